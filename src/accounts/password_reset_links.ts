/**
 * The links of a password reset by email (OWASP Forgot Password Cheat Sheet, "URL tokens"): 256 random bits, sent
 * once in the mail, stored only as their SHA-256 (a stolen database holds no usable link), valid for
 * {@link RESET_LINK_LIFETIME_MS}, used at most once.
 *
 * A link is bound to the account's credentials epoch when it was asked for: whatever raised the epoch since — a
 * password change, another reset, a reset of the second factors, a disable (adding or removing one method does not) —
 * makes it worthless, so no link outlives the password it was meant to replace. A link also remembers a hash of the asking browser's nonce (the mail of the
 * reset says when another browser used it) and, when the reset started from a sign-in, that interaction (the page
 * after the reset offers to go back to it).
 *
 * Links are swept by a TTL index a day after they expire: until then an expired link answers "expired" and a used one
 * "already used" (marked), rather than "not valid".
 */
import { createHash, randomBytes } from 'node:crypto';
import { Schema, type Connection, type Model } from 'mongoose';
import { oncePerConnection } from '../store/once_per_connection.ts';

/** How long a reset link works: 30 minutes. */
export const RESET_LINK_LIFETIME_MS = 30 * 60_000;

/** How long a link's record outlives its expiry, so a late click is told "expired": one day. */
const KEEP_AFTER_EXPIRY_SECONDS = 86_400;

/** A link's token: 32 random bytes, base64url (43 characters). */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

interface ResetLinkDoc {
  /** SHA-256 of the token, hex. */
  _id: string;
  accountId: string;
  /** The account's credentials epoch when the link was asked for. */
  epoch: number;
  /** SHA-256 of the asking browser's nonce, hex. */
  browser: string;
  /** The sign-in the reset started from, if any. */
  interaction: string | null;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
}

const linkSchema = new Schema<ResetLinkDoc>({
  _id: { type: String, required: true },
  accountId: { type: String, required: true },
  epoch: { type: Number, required: true },
  browser: { type: String, required: true },
  interaction: { type: String, default: null },
  createdAt: { type: Date, required: true },
  expiresAt: { type: Date, required: true },
  usedAt: { type: Date, default: null },
}, { versionKey: false, strict: 'throw', autoIndex: false, autoCreate: false, collection: 'password_reset_links' });
linkSchema.index({ expiresAt: 1 }, { expireAfterSeconds: KEEP_AFTER_EXPIRY_SECONDS, name: 'expires_at_ttl' });
linkSchema.index({ accountId: 1 });

function linkModel(conn: Connection): Model<ResetLinkDoc> {
  return (conn.models.PasswordResetLink as Model<ResetLinkDoc> | undefined)
    ?? conn.model<ResetLinkDoc>('PasswordResetLink', linkSchema, 'password_reset_links');
}

/** Creates the collection's indexes (TTL on `expiresAt`, by account); idempotent, once per connection. */
export const ensureResetLinkIndexes = oncePerConnection((conn) => linkModel(conn).createIndexes());

async function links(conn: Connection): Promise<Model<ResetLinkDoc>> {
  await ensureResetLinkIndexes(conn);
  return linkModel(conn);
}

/** SHA-256, hex: how a token or a browser nonce is stored. */
export function digest(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** A stored link, as the pages see it (never the token). */
export interface ResetLink {
  readonly accountId: string;
  readonly epoch: number;
  /** SHA-256 of the asking browser's nonce, hex. */
  readonly browser: string;
  readonly interaction: string | null;
  readonly expiresAt: Date;
}

/** Why a token opens nothing: unknown (or malformed, or swept), expired, or already used. */
export type ResetLinkRefusal = 'invalid' | 'expired' | 'used';

function toLink(doc: ResetLinkDoc): ResetLink {
  return { accountId: doc.accountId, epoch: doc.epoch, browser: doc.browser, interaction: doc.interaction, expiresAt: doc.expiresAt };
}

/** Stores a new link for `accountId` and returns its token (the only time it exists outside the mail). */
export async function createResetLink(
  conn: Connection,
  input: { accountId: string; epoch: number; browserNonce: string; interaction?: string | undefined; now: Date },
): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await (await links(conn)).create({
    _id: digest(token),
    accountId: input.accountId,
    epoch: input.epoch,
    browser: digest(input.browserNonce),
    interaction: input.interaction ?? null,
    createdAt: input.now,
    expiresAt: new Date(input.now.getTime() + RESET_LINK_LIFETIME_MS),
    usedAt: null,
  });
  return token;
}

function refusalOf(doc: ResetLinkDoc | null, now: Date): ResetLinkRefusal | undefined {
  if (!doc) return 'invalid';
  if (doc.usedAt) return 'used';
  if (doc.expiresAt.getTime() <= now.getTime()) return 'expired';
  return undefined;
}

/** The link a token opens, without using it (a mail scanner following the link uses nothing). */
export async function findResetLink(conn: Connection, token: unknown, now: Date): Promise<ResetLink | ResetLinkRefusal> {
  if (typeof token !== 'string' || !TOKEN.test(token)) return 'invalid';
  const doc = await (await links(conn)).findById(digest(token)).lean<ResetLinkDoc>().exec();
  return refusalOf(doc, now) ?? toLink(doc as ResetLinkDoc);
}

/**
 * Uses the link a token opens: one atomic write that only an unused, unexpired link passes, so of two requests in
 * flight with the same token exactly one gets the link.
 */
export async function useResetLink(conn: Connection, token: unknown, now: Date): Promise<ResetLink | ResetLinkRefusal> {
  if (typeof token !== 'string' || !TOKEN.test(token)) return 'invalid';
  const Link = await links(conn);
  const id = digest(token);
  const doc = await Link.findOneAndUpdate(
    { _id: id, usedAt: null, expiresAt: { $gt: now } },
    { $set: { usedAt: now } },
    { returnDocument: 'after' },
  ).lean<ResetLinkDoc>().exec();
  if (doc) return toLink(doc);
  return refusalOf(await Link.findById(id).lean<ResetLinkDoc>().exec(), now) ?? 'used';
}

/** Ends every other link of the account (after a reset: one password, one link). */
export async function dropResetLinks(conn: Connection, accountId: string, now: Date): Promise<void> {
  await (await links(conn)).updateMany({ accountId, usedAt: null }, { $set: { usedAt: now } }).exec();
}
