/**
 * One change of an account's factor set at a time, across every server instance: a short per-account lease in
 * MongoDB (collection `factor_set_leases`, `_id` = account id), nothing in process memory.
 *
 * Why: a decision that depends on the whole factor set — "is this the last method?" before a removal, and the
 * clean-up that goes with the last one (recovery codes, "ask at every sign-in") — reads several collections and then
 * writes others; MongoDB cannot make that one conditional write. Two removals in flight (two tabs, a double submit, a
 * script) would each see the other method still there and both remove, taking a member whose company forces 2FA to
 * zero methods. Under the lease the second removal runs after the first and decides from what the first left.
 *
 * The lease: acquired with one conditional upsert — `{ _id, expiresAt ≤ now }` → `$set { holder, expiresAt }` — so
 * of any number of concurrent callers exactly one creates or takes over the document; the others hit the unique `_id`
 * (duplicate key) and wait a little ({@link FactorSetGuardOptions.waitMs}), then give up with
 * `factor_change_in_progress`. It is released (deleted, only by its holder) when the change ends, thrown or not. A
 * request that crashed while holding it blocks the account for at most {@link FactorSetGuardOptions.leaseMs}; a change
 * must finish well within that (a few writes), or another one may start beside it. A lease left by a crash stays as
 * one small document per account until the next change takes it over or the TTL index removes it.
 *
 * What takes it: every change that decides from the factor set it reads — the console's removal of a method. What
 * does not, on purpose: enrolment confirmations (console and sign-in) only add or swap a method, so they can never
 * take an account below the count a removal saw; a support or company-admin reset (`FactorRegistry.removeAll`)
 * removes everything by intent and ends the account's sign-ins. A removal therefore decides its clean-up from what
 * is left *after* it removed, so a method confirmed meanwhile keeps the recovery codes. Another change that must see a
 * stable factor set can run inside {@link FactorSetGuard.withLease} too.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Schema, type Connection, type Model, type mongo } from 'mongoose';
import { isDuplicateKeyError } from '../../shared/errors.ts';
import { checkAccountId } from './account_id.ts';
import { oncePerConnection } from '../../store/once_per_connection.ts';
import { forgetAllReads } from '../../store/request_reads.ts';

/** Options of {@link createFactorSetGuard}, all optional. */
export interface FactorSetGuardOptions {
  /** How long a lease lasts when its holder never releases it (a crash), in ms. Default 30 000. */
  readonly leaseMs?: number;
  /** How long a caller waits for a lease another change holds before giving up, in ms. Default 2 000. */
  readonly waitMs?: number;
  /** The pause between two tries while waiting, in ms. Default 25. */
  readonly retryMs?: number;
}

export const FACTOR_SET_GUARD_DEFAULTS = Object.freeze({ leaseMs: 30_000, waitMs: 2_000, retryMs: 25 });

/** The result of {@link FactorSetGuard.withLease}: the change's value, or `factor_change_in_progress` (nothing ran). */
export type FactorSetChange<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: 'factor_change_in_progress' };

export interface FactorSetGuard {
  /**
   * Runs `change` while holding the account's factor-set lease; releases it afterwards (also when `change` throws,
   * then rethrows). When another change holds the lease for longer than `waitMs`, `change` does not run.
   */
  withLease<T>(accountId: string, change: () => Promise<T>): Promise<FactorSetChange<T>>;
}

export interface FactorSetLeaseDoc {
  /** The account id. */
  _id: string;
  /** A random id of the request holding the lease (only it releases the lease). */
  holder: string;
  /** When a holder that never released it loses the lease. */
  expiresAt: Date;
}

const leaseSchema = new Schema<FactorSetLeaseDoc>(
  {
    _id: { type: String, required: true },
    holder: { type: String, required: true },
    expiresAt: { type: Date, required: true },
  },
  { versionKey: false, strict: 'throw', autoIndex: false, autoCreate: false },
);
leaseSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'expires_at_ttl' });

/** Creates the TTL index that removes leases left by a crashed request; idempotent, once per connection. */
export const ensureFactorSetLeaseIndexes = oncePerConnection((conn) => factorSetLeaseModel(conn).createIndexes());

export function factorSetLeaseModel(conn: Connection): Model<FactorSetLeaseDoc> {
  return (conn.models.FactorSetLease as Model<FactorSetLeaseDoc> | undefined)
    ?? conn.model<FactorSetLeaseDoc>('FactorSetLease', leaseSchema, 'factor_set_leases');
}

/** A guard over the factor-set leases of `conn`'s database (see the module comment). */
export function createFactorSetGuard(conn: Connection, options: FactorSetGuardOptions = {}): FactorSetGuard {
  const { leaseMs, waitMs, retryMs } = { ...FACTOR_SET_GUARD_DEFAULTS, ...options };
  for (const [name, value] of Object.entries({ leaseMs, waitMs, retryMs })) {
    if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`${name} must be a non-negative integer, got ${value}`);
  }
  // The native collection: plain strings and dates, nothing for mongoose to cast.
  const leases = factorSetLeaseModel(conn).collection as unknown as mongo.Collection<FactorSetLeaseDoc>;
  const tries = 1 + (retryMs > 0 ? Math.ceil(waitMs / retryMs) : 0);

  async function acquire(accountId: string, holder: string): Promise<boolean> {
    const now = Date.now();
    try {
      const doc = await leases.findOneAndUpdate(
        { _id: accountId, expiresAt: { $lte: new Date(now) } },
        { $set: { holder, expiresAt: new Date(now + leaseMs) } },
        { upsert: true, returnDocument: 'after' },
      );
      return doc?.holder === holder;
    } catch (err) {
      // A live lease of another change: the filter missed and the upsert hit the existing `_id`.
      if (isDuplicateKeyError(err)) return false;
      throw err;
    }
  }

  async function release(accountId: string, holder: string): Promise<void> {
    // Only our own lease: after an expiry another change may hold the document now. A failed release expires.
    await leases.deleteOne({ _id: accountId, holder }).catch(() => undefined);
  }

  return Object.freeze({
    async withLease<T>(accountId: string, change: () => Promise<T>): Promise<FactorSetChange<T>> {
      checkAccountId(accountId);
      const holder = randomBytes(12).toString('base64url');
      for (let attempt = 1; !await acquire(accountId, holder); attempt += 1) {
        if (attempt >= tries) return { ok: false, code: 'factor_change_in_progress' };
        await delay(retryMs);
      }
      // The change decides from what the previous holder left: nothing this request read before it held the lease.
      forgetAllReads();
      try {
        return { ok: true, value: await change() };
      } finally {
        await release(accountId, holder);
      }
    },
  });
}
