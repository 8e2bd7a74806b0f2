/**
 * The audit log (docs/ARCHITECTURE.md "Support actions, audit log and mail"): every security event — who, what,
 * when, from where — in the MongoDB collection `audit_events`, append-only (nothing here updates or deletes a
 * record; only the retention TTL ends one).
 *
 * Indexes: `{ accountId: 1, at: -1 }` for the customer's "recent security events" list; `{ event: 1, at: -1 }` for
 * operators' queries by type; a TTL index on `at` for retention (default {@link DEFAULT_AUDIT_RETENTION_DAYS} days;
 * MongoDB deletes expired records about once a minute, which is all retention needs).
 *
 * `details` is a small free-form object, and secrets never belong in it: keys named like a code, secret, password,
 * token, key, hash, cookie or OTP are dropped at any depth before the write ({@link sanitizeDetails}), and the
 * object is cut to a small size.
 */
import { Schema, type Connection, type Model, type Types } from 'mongoose';
import { AppError } from '../shared/errors.ts';

/** Who caused an event: the account holder, a company admin, support (operators' CLI) or the system (lockouts). */
export const AUDIT_ACTOR_TYPES = ['user', 'admin', 'support', 'system'] as const;
export type AuditActorType = (typeof AUDIT_ACTOR_TYPES)[number];

export interface AuditActor {
  readonly type: AuditActorType;
  /** The acting account's id (user, admin) or an operator's name (support); absent for the system. */
  readonly id?: string | undefined;
}

/**
 * Event names: stable lower_snake_case, wire-visible (the console lists them, operators query them). The
 * notification kinds of `mail/templates.ts` are event names too.
 */
export const AUDIT_EVENTS = [
  'login_succeeded',
  'login_failed',
  'logout',
  'mfa_succeeded',
  'mfa_failed',
  'factor_enrolment_started',
  'factor_added',
  'factor_removed',
  'factors_reset',
  'primary_factor_changed',
  'sign_in_mfa_enabled',
  'sign_in_mfa_disabled',
  'email_code_sent',
  'email_code_send_failed',
  'recovery_code_used',
  'recovery_codes_regenerated',
  'account_locked',
  'account_unlocked',
  'account_disabled',
  'account_enabled',
  'password_changed',
  'password_reset',
  'password_reset_requested',
  'notification_failed',
  'company_policy_changed',
  'company_policy_forced',
  'company_policy_notice_skipped',
] as const;
export type AuditEventName = (typeof AUDIT_EVENTS)[number];

export { DEFAULT_AUDIT_RETENTION_DAYS } from '../config/load_config.ts';

/** Limits of `details` (a small object, never a payload dump). */
const DETAILS_MAX_DEPTH = 3;
const DETAILS_MAX_KEYS = 20;
const DETAILS_MAX_ARRAY = 20;
const DETAILS_MAX_STRING = 200;

/**
 * Key names that are never stored, at any depth (case-insensitive, anywhere in the name: `code`, `recoveryCode`,
 * `totp_secret`, `newPassword`, `idToken`, `apiKey`, `codeHash` …). Errs on the side of dropping.
 */
export const SECRET_KEY_PATTERN = /code|secret|passw|pwd|token|otp|key|hash|cookie|authorization|credential|pin$/i;

/** What {@link recordEvent} takes. */
export interface AuditEventInput {
  readonly accountId: string;
  readonly actor: AuditActor;
  readonly event: AuditEventName;
  /** When it happened; default now. */
  readonly at?: Date | undefined;
  readonly ip?: string | undefined;
  readonly userAgent?: string | undefined;
  /** The relying party (shop) the event happened for, if any. */
  readonly clientId?: string | undefined;
  /** A few facts (`{ factorId, remaining: 3 }`); secrets are dropped, see {@link sanitizeDetails}. */
  readonly details?: Readonly<Record<string, unknown>> | undefined;
}

/** A stored audit record as the API returns it. */
export interface AuditEvent {
  readonly id: string;
  readonly accountId: string;
  readonly actor: AuditActor;
  readonly event: AuditEventName;
  readonly at: Date;
  readonly ip?: string;
  readonly userAgent?: string;
  readonly clientId?: string;
  readonly details?: Record<string, unknown>;
}

interface AuditEventDoc {
  _id: Types.ObjectId;
  accountId: string;
  actor: { type: AuditActorType; id?: string };
  event: AuditEventName;
  at: Date;
  ip?: string;
  userAgent?: string;
  clientId?: string;
  details?: Record<string, unknown>;
}

const auditSchema = new Schema<AuditEventDoc>(
  {
    accountId: { type: String, required: true },
    actor: {
      type: new Schema({ type: { type: String, enum: AUDIT_ACTOR_TYPES, required: true }, id: { type: String } }, { _id: false, strict: 'throw' }),
      required: true,
    },
    event: { type: String, enum: AUDIT_EVENTS, required: true },
    at: { type: Date, required: true },
    ip: { type: String },
    userAgent: { type: String },
    clientId: { type: String },
    details: { type: Schema.Types.Mixed },
  },
  { versionKey: false, strict: 'throw', autoIndex: false, autoCreate: false, minimize: true, collection: 'audit_events' },
);
auditSchema.index({ accountId: 1, at: -1 });
auditSchema.index({ event: 1, at: -1 });

/** The AuditEvent model on `conn` (indexes not ensured: use the functions below). */
export function auditEventModel(conn: Connection): Model<AuditEventDoc> {
  return (conn.models.AuditEvent as Model<AuditEventDoc> | undefined) ?? conn.model<AuditEventDoc>('AuditEvent', auditSchema, 'audit_events');
}

/** Name of the retention TTL index on `at`. */
export const AUDIT_TTL_INDEX = 'at_retention_ttl';

export interface AuditLogOptions {
  /**
   * Days an audit record is kept before MongoDB deletes it; `null` keeps records forever (no TTL index). Default
   * {@link DEFAULT_AUDIT_RETENTION_DAYS}. Whole days, 1-3650.
   */
  readonly retentionDays?: number | null | undefined;
}

/** Per connection: the retention this process set (`undefined`: only the plain indexes were ensured) and the work. */
const ensured = new WeakMap<Connection, { retentionDays: number | null | undefined; pending: Promise<void> }>();

/**
 * Creates the audit indexes and, with `retentionDays`, sets the retention TTL; idempotent. Start-up (the server, the
 * CLI, the plugin's `ensureIndexes`) passes the configured retention: a retention different from the TTL index in
 * the database replaces that index, `null` removes it (records kept forever). The other functions call it without
 * options: then only the plain indexes are ensured and the TTL index is left exactly as it is, so a process that
 * never read the configuration cannot undo the operators' retention.
 */
export async function ensureAuditIndexes(conn: Connection, options?: AuditLogOptions): Promise<void> {
  const cached = ensured.get(conn);
  const retentionDays = options?.retentionDays;
  if (retentionDays !== undefined && retentionDays !== null && (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > 3650)) {
    throw new AppError('invalid_audit_retention', 'audit retention must be a whole number of days from 1 to 3650, or null to keep records forever');
  }
  if (cached && (retentionDays === undefined || cached.retentionDays === retentionDays)) return cached.pending;
  const pending = (cached?.pending.catch(() => undefined) ?? Promise.resolve()).then(() => buildIndexes(conn, retentionDays));
  ensured.set(conn, { retentionDays, pending });
  // a failure (the database is down) must not be cached: the next call tries again
  pending.catch(() => {
    if (ensured.get(conn)?.pending === pending) ensured.delete(conn);
  });
  return pending;
}

async function buildIndexes(conn: Connection, retentionDays: number | null | undefined): Promise<void> {
  const model = auditEventModel(conn);
  await model.createIndexes(); // also creates the collection, so listIndexes below finds it
  if (retentionDays === undefined) return;
  const collection = model.collection;
  const existing = (await collection.listIndexes().toArray()).find((index) => index.name === AUDIT_TTL_INDEX);
  const wantSeconds = retentionDays === null ? undefined : retentionDays * 86_400;
  if (existing && existing.expireAfterSeconds !== wantSeconds) await collection.dropIndex(AUDIT_TTL_INDEX);
  if (wantSeconds !== undefined && (!existing || existing.expireAfterSeconds !== wantSeconds)) {
    await collection.createIndex({ at: 1 }, { name: AUDIT_TTL_INDEX, expireAfterSeconds: wantSeconds });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function sanitizeValue(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') return value.length > DETAILS_MAX_STRING ? `${value.slice(0, DETAILS_MAX_STRING)}…` : value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : new Date(value.getTime());
  if (depth >= DETAILS_MAX_DEPTH) return undefined;
  if (Array.isArray(value)) {
    return value.slice(0, DETAILS_MAX_ARRAY).map((item) => sanitizeValue(item, depth + 1)).filter((item) => item !== undefined);
  }
  if (isPlainObject(value)) return sanitizeObject(value, depth + 1);
  return undefined; // functions, Buffers, class instances, bigints, symbols: not "small facts"
}

function sanitizeObject(input: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let kept = 0;
  for (const [key, value] of Object.entries(input)) {
    if (kept >= DETAILS_MAX_KEYS) break;
    // `$` and `.` would be read as MongoDB operators / paths; `__proto__` and friends are never data
    if (SECRET_KEY_PATTERN.test(key) || key.startsWith('$') || key.includes('.') || key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    const clean = sanitizeValue(value, depth);
    if (clean === undefined) continue;
    out[key] = clean;
    kept += 1;
  }
  return out;
}

/**
 * The `details` that may be stored: keys matching {@link SECRET_KEY_PATTERN} removed at any depth, at most 3
 * levels, 20 keys per object, 20 items per array, strings cut at 200 characters; only JSON-like values and Dates.
 * `undefined` when nothing is left.
 */
export function sanitizeDetails(details: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> | undefined {
  if (details === undefined || !isPlainObject(details)) return undefined;
  const clean = sanitizeObject(details, 0);
  return Object.keys(clean).length > 0 ? clean : undefined;
}

function clip(value: string | undefined, max: number): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed.slice(0, max);
}

function toEvent(doc: AuditEventDoc): AuditEvent {
  return {
    id: doc._id.toHexString(),
    accountId: doc.accountId,
    actor: doc.actor.id === undefined ? { type: doc.actor.type } : { type: doc.actor.type, id: doc.actor.id },
    event: doc.event,
    at: doc.at,
    ...(doc.ip !== undefined ? { ip: doc.ip } : {}),
    ...(doc.userAgent !== undefined ? { userAgent: doc.userAgent } : {}),
    ...(doc.clientId !== undefined ? { clientId: doc.clientId } : {}),
    ...(doc.details !== undefined ? { details: doc.details } : {}),
  };
}

/** Appends one audit record and returns it as stored (details sanitised). */
export async function recordEvent(conn: Connection, input: AuditEventInput): Promise<AuditEvent> {
  if (typeof input.accountId !== 'string' || input.accountId === '') throw new AppError('invalid_audit_event', 'an audit event needs an accountId');
  await ensureAuditIndexes(conn);
  const details = sanitizeDetails(input.details);
  const actorId = clip(input.actor.id, 200);
  const ip = clip(input.ip, 64);
  const userAgent = clip(input.userAgent, 512);
  const clientId = clip(input.clientId, 200);
  const doc = await auditEventModel(conn).create({
    accountId: input.accountId,
    actor: actorId === undefined ? { type: input.actor.type } : { type: input.actor.type, id: actorId },
    event: input.event,
    at: input.at ?? new Date(),
    ...(ip !== undefined ? { ip } : {}),
    ...(userAgent !== undefined ? { userAgent } : {}),
    ...(clientId !== undefined ? { clientId } : {}),
    ...(details !== undefined ? { details } : {}),
  });
  return toEvent(doc.toObject());
}

/** Default and largest page of {@link listEvents}. */
export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 200;

function pageSize(limit: number | undefined, max: number, fallback: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isFinite(limit)) return fallback;
  return Math.min(max, Math.max(1, Math.floor(limit)));
}

/**
 * An account's events, newest first ("recent security events"). `before`: only events strictly older (the next
 * page starts at the last event's `at`). `limit` default 20, at most 200.
 */
export async function listEvents(conn: Connection, accountId: string, options: { limit?: number; before?: Date } = {}): Promise<AuditEvent[]> {
  await ensureAuditIndexes(conn);
  const filter: Record<string, unknown> = { accountId: String(accountId) };
  if (options.before) filter.at = { $lt: options.before };
  const docs = await auditEventModel(conn).find(filter).sort({ at: -1, _id: -1 }).limit(pageSize(options.limit, MAX_LIST_LIMIT, DEFAULT_LIST_LIMIT)).lean<AuditEventDoc[]>();
  return docs.map(toEvent);
}

/** Default and largest result of {@link listEventsByType}. */
export const DEFAULT_TYPE_LIMIT = 1000;
export const MAX_TYPE_LIMIT = 10_000;

/** Events of one type across accounts since a time, newest first (operators: "lockouts in the last day"). */
export async function listEventsByType(conn: Connection, event: AuditEventName, options: { since: Date; limit?: number }): Promise<AuditEvent[]> {
  if (!(AUDIT_EVENTS as readonly string[]).includes(event)) throw new AppError('invalid_audit_event', `unknown audit event ${JSON.stringify(String(event))}`);
  await ensureAuditIndexes(conn);
  const docs = await auditEventModel(conn)
    .find({ event, at: { $gte: options.since } })
    .sort({ at: -1, _id: -1 })
    .limit(pageSize(options.limit, MAX_TYPE_LIMIT, DEFAULT_TYPE_LIMIT))
    .lean<AuditEventDoc[]>();
  return docs.map(toEvent);
}
