/**
 * Console sessions, in MongoDB (`account_sessions`, TTL index on `expiresAt`): nothing that must hold across
 * instances lives in process memory. The browser holds a random token in a signed cookie; the document's `_id` is
 * the token's SHA-256, so reading the collection never yields a usable cookie.
 *
 * A session is anonymous (only a pending sign-in) until the callback; then it records who signed in, the ID token's
 * `acr`/`amr`/`auth_time`, the account's credentials epoch, and the last re-authentication (`freshness.ts`).
 * The token rotates at every callback (no session fixation).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Schema, type Connection, type Model } from 'mongoose';
import { forgetsRequestReads, readModelDocument } from '../store/model_reads.ts';
import { oncePerConnection } from '../store/once_per_connection.ts';

/** An authorization request in flight: what its callback must match. */
export interface PendingLogin {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** `sign_in`: open the console; `reauth`: re-authentication before a change (`max_age=0`). */
  readonly purpose: 'sign_in' | 'reauth';
  /** The level a re-authentication asks for (the account's strongest factor; 1: the password alone). */
  readonly level?: number;
  /** The console page to land on after the callback. */
  readonly returnTo: string;
  readonly createdAt: Date;
}

/** A change the customer submitted before re-authenticating: the page shows it again to be submitted. */
export interface PendingAction {
  readonly returnTo: string;
  readonly fields: Readonly<Record<string, string>>;
  readonly savedAt: Date;
}

/** What the ID token of the last sign-in said. */
export interface SignedIn {
  readonly accountId: string;
  readonly acr: string;
  readonly amr: readonly string[];
  readonly authTime: Date;
  /** When the last re-authentication completed (after it was requested), and at which level. */
  readonly reauthAt: Date | null;
  readonly reauthLevel: number;
  /** The account's credentials epoch at the sign-in: a session of an older epoch is signed out. */
  readonly epoch: number;
  /** Kept for `id_token_hint` at sign-out. */
  readonly idToken: string;
}

export interface ConsoleSession {
  readonly id: string;
  readonly signedIn: SignedIn | null;
  readonly login: PendingLogin | null;
  readonly pendingAction: PendingAction | null;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

/** An anonymous session (a sign-in in progress) lives this long. */
export const ANONYMOUS_SESSION_MS = 15 * 60_000;
/** A signed-in session ends after this much inactivity … */
export const IDLE_SESSION_MS = 30 * 60_000;
/** … and at the latest this long after the sign-in. */
export const MAX_SESSION_MS = 12 * 3_600_000;

interface SessionDoc {
  _id: string;
  signedIn: SignedIn | null;
  login: PendingLogin | null;
  pendingAction: { returnTo: string; fields?: Record<string, string>; savedAt: Date } | null;
  createdAt: Date;
  expiresAt: Date;
}

/** The collection of console sessions. */
export const ACCOUNT_SESSIONS = 'account_sessions';

const loginSchema = new Schema<PendingLogin>({
  state: { type: String, required: true },
  nonce: { type: String, required: true },
  codeVerifier: { type: String, required: true },
  purpose: { type: String, enum: ['sign_in', 'reauth'], required: true },
  returnTo: { type: String, required: true },
  level: { type: Number },
  createdAt: { type: Date, required: true },
}, { _id: false, strict: 'throw' });

const signedInSchema = new Schema<SignedIn>({
  accountId: { type: String, required: true },
  acr: { type: String, required: true },
  amr: { type: [String], default: [] },
  authTime: { type: Date, required: true },
  reauthAt: { type: Date, default: null },
  reauthLevel: { type: Number, default: 0 },
  epoch: { type: Number, default: 0 },
  idToken: { type: String, required: true },
}, { _id: false, strict: 'throw' });

const pendingActionSchema = new Schema({
  returnTo: { type: String, required: true },
  fields: { type: Schema.Types.Mixed },
  savedAt: { type: Date, required: true },
}, { _id: false, strict: 'throw' });

const sessionSchema = new Schema<SessionDoc>({
  _id: { type: String, required: true },
  signedIn: { type: signedInSchema, default: null },
  login: { type: loginSchema, default: null },
  pendingAction: { type: pendingActionSchema, default: null },
  createdAt: { type: Date, required: true },
  expiresAt: { type: Date, required: true },
}, { versionKey: false, strict: 'throw', autoIndex: false, autoCreate: false, collection: ACCOUNT_SESSIONS });
sessionSchema.plugin(forgetsRequestReads);
sessionSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'expires_at_ttl' });

function sessionModel(conn: Connection): Model<SessionDoc> {
  return (conn.models.AccountSession as Model<SessionDoc> | undefined)
    ?? conn.model<SessionDoc>('AccountSession', sessionSchema, ACCOUNT_SESSIONS);
}

/** Creates the collection's indexes (TTL on `expiresAt`); idempotent, once per connection. */
export const ensureAccountSessionIndexes = oncePerConnection((conn) => sessionModel(conn).createIndexes());

function idOf(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function toSession(doc: SessionDoc): ConsoleSession {
  return {
    id: doc._id,
    signedIn: doc.signedIn
      ? {
        ...doc.signedIn,
        amr: [...(doc.signedIn.amr ?? [])],
        reauthAt: doc.signedIn.reauthAt ?? null,
        reauthLevel: doc.signedIn.reauthLevel ?? 0,
        epoch: doc.signedIn.epoch ?? 0,
      }
      : null,
    login: doc.login ?? null,
    pendingAction: doc.pendingAction ? { returnTo: doc.pendingAction.returnTo, fields: { ...doc.pendingAction.fields }, savedAt: doc.pendingAction.savedAt } : null,
    createdAt: doc.createdAt,
    expiresAt: doc.expiresAt,
  };
}

/** A new session; returns the cookie token (shown to nobody else) and the session. */
export async function createSession(
  conn: Connection,
  init: { signedIn?: SignedIn; login?: PendingLogin; pendingAction?: PendingAction | null },
): Promise<{ token: string; session: ConsoleSession }> {
  await ensureAccountSessionIndexes(conn);
  const token = randomBytes(32).toString('base64url');
  const now = Date.now();
  const doc: SessionDoc = {
    _id: idOf(token),
    signedIn: init.signedIn ?? null,
    login: init.login ?? null,
    pendingAction: init.pendingAction ?? null,
    createdAt: new Date(now),
    expiresAt: new Date(now + (init.signedIn ? IDLE_SESSION_MS : ANONYMOUS_SESSION_MS)),
  };
  await sessionModel(conn).create(doc);
  return { token, session: toSession(doc) };
}

/** The live session of a cookie token (`null` when unknown or expired: TTL deletion is not immediate). */
export async function findSession(conn: Connection, token: string | undefined): Promise<ConsoleSession | null> {
  if (typeof token !== 'string' || token.length < 16 || token.length > 128) return null;
  const doc = await readModelDocument(sessionModel(conn), idOf(token));
  if (!doc || doc.expiresAt.getTime() <= Date.now()) return null;
  return toSession(doc);
}

/** Extends a signed-in session's idle lifetime (never past {@link MAX_SESSION_MS} after its creation). */
export async function touchSession(conn: Connection, session: ConsoleSession): Promise<void> {
  const now = Date.now();
  const expiresAt = new Date(Math.min(now + IDLE_SESSION_MS, session.createdAt.getTime() + MAX_SESSION_MS));
  if (expiresAt.getTime() - session.expiresAt.getTime() < 60_000) return;
  await sessionModel(conn).updateOne({ _id: session.id }, { $set: { expiresAt } });
}

/** Starts an authorization request for this session (a newer one replaces an older one still in flight). */
export async function setLogin(conn: Connection, sessionId: string, login: PendingLogin): Promise<void> {
  await sessionModel(conn).updateOne({ _id: sessionId }, { $set: { login } });
}

/**
 * Consumes the pending sign-in whose `state` matches, atomically: a replayed or forged callback finds nothing
 * (`null`), and of two parallel callbacks exactly one wins.
 */
export async function takeLogin(conn: Connection, sessionId: string, state: string): Promise<PendingLogin | null> {
  if (typeof state !== 'string' || state.length === 0 || state.length > 256) return null;
  const before = await sessionModel(conn).findOneAndUpdate(
    { _id: sessionId, 'login.state': state },
    { $set: { login: null } },
    { returnDocument: 'before' },
  ).lean<SessionDoc>();
  return before?.login ?? null;
}

/**
 * Moves a signed-in session from credentials epoch `from` to `to` (the browser that changed the password stays signed
 * in); a session of another epoch is left as it is (dead).
 */
export async function setSessionEpoch(conn: Connection, sessionId: string, from: number, to: number): Promise<void> {
  await sessionModel(conn).updateOne({ _id: sessionId, 'signedIn.epoch': from }, { $set: { 'signedIn.epoch': to } });
}

export async function setPendingAction(conn: Connection, sessionId: string, action: PendingAction | null): Promise<void> {
  await sessionModel(conn).updateOne({ _id: sessionId }, { $set: { pendingAction: action } });
}

export async function deleteSession(conn: Connection, sessionId: string): Promise<void> {
  await sessionModel(conn).deleteOne({ _id: sessionId });
}

/**
 * Ends every signed-in console session of `accountId` except `keepSessionId` (after a password change, a session
 * opened with the old password must not stay signed in). Returns how many ended.
 */
export async function deleteOtherSessions(conn: Connection, accountId: string, keepSessionId: string): Promise<number> {
  const result = await sessionModel(conn).deleteMany({ 'signedIn.accountId': accountId, _id: { $ne: keepSessionId } });
  return result.deletedCount;
}
