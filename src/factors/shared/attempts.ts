/**
 * Per-account attempt limiter for second factors, shared by every factor and every server instance (state in
 * MongoDB, collection `factor_attempts`).
 *
 * Policy (defaults; NIST SP 800-63B §5.2.2, docs/SECURITY.md "Guessing second-factor codes"):
 * - after every `failuresPerLockout` (5) consecutive failures the factor is locked for a while; the lockouts grow
 *   1 min, 2, 4, 8, 16, 32, then 60 min for each further one (`baseLockoutMs` doubling, capped at `maxLockoutMs`);
 * - never more than `maxConsecutiveFailures` consecutive failures: the last one locks the bucket permanently,
 *   until support resets it or the user redeems a recovery code ({@link AttemptLimiter.reset});
 * - a success resets the consecutive count and the backoff.
 *
 * NIST SP 800-63B §5.2.2 allows at most 100 consecutive failed attempts **per account**, and this provider counts
 * them across factors. The second factors therefore split that cap ({@link SECOND_FACTOR_FAILURE_CAP}): the shared
 * bucket of the primary factors (authenticator app, email code, TOTP enrolment confirmations) gets 90
 * ({@link SECOND_FACTOR_ATTEMPT_POLICY}, the default of the {@link SECOND_FACTOR_BUCKET} bucket) and the recovery-code
 * bucket keeps 10 of its own ({@link RECOVERY_CODE_FAILURE_SHARE}), so a recovery code can still lift a permanent
 * lock of the shared bucket while the two together never allow more than 100. Other buckets (e.g. a password
 * throttle) default to {@link DEFAULT_ATTEMPT_POLICY} (100).
 *
 * Atomicity: an attempt is **reserved before the code is checked** with one conditional `findOneAndUpdate`
 * (`budgetLeft > 0` and not locked → `$inc: { budgetLeft: -1, failures: 1 }`), i.e. it counts as a failure up
 * front and a success undoes that. A parallel burst therefore gets at most `budgetLeft` reservations; everything
 * else is refused without checking its code. The reservation that takes the last unit of budget closes the window
 * at once (sets `lockedUntil`, refills the budget, or sets `permanent`); a success undoes that too. Only classic
 * update operators (`$inc`, `$set`, `$unset`) and filter conditions are used.
 *
 * Expiry (TTL index on `expiresAt`, {@link ensureAttemptIndexes}). Anyone can create a counter — the password
 * throttle keys it by the typed email, registered or not — so counters must not pile up forever; yet a permanent
 * lock must outlive any silence (NIST SP 800-63B §5.2.2: after the cap only support or a recovery code unlocks), and
 * an unknown email must answer exactly like a registered one (no account enumeration: OWASP Authentication Cheat
 * Sheet, "Authentication and Error Messages"). The limiter never knows whether a key belongs to an account, so the
 * rule depends on the counter alone and is the same for every key:
 * - every write that counts a failure (the reservation) sets `expiresAt` to that failure + the longest lockout
 *   (`maxLockoutMs`) + {@link ATTEMPT_RETENTION_MS} (30 days), in the same update: a counter nobody touches for a
 *   month after its last lockout could have ended is forgotten, so a wrong password for a made-up email leaves
 *   nothing that lasts;
 * - the reservation that takes the cap's last failure removes `expiresAt` in that same update, and the permanent lock
 *   keeps none: it stays until {@link AttemptLimiter.reset} / {@link resetAttempts}, whoever the key belongs to;
 * - a success sets the fresh counter's `expiresAt` from now.
 * Consequences, accepted: an email nobody registered that someone drove to the permanent lock (100 failed password
 * checks, about 14 h of lockouts) stays stored like a registered one — storage grows at most by one row per 100
 * failures, never per request; and an attacker who stops short of the cap and then waits 30 days finds the
 * consecutive count cleared, i.e. at most `maxConsecutiveFailures - 1` guesses per account in about a month.
 */
import { Schema, type Connection, type Model } from 'mongoose';
import { isDuplicateKeyError } from '../../shared/errors.ts';
import type { LockState, LockedFailure } from '../contract.ts';
import { checkAccountId } from './account_id.ts';
import { oncePerConnection } from '../../store/once_per_connection.ts';

/** Limits, all optional; defaults in the module comment. */
export interface AttemptPolicy {
  /** Failures allowed between two lockouts. Default 5. */
  readonly failuresPerLockout: number;
  /** The first lockout, in ms; each further one doubles. Default 60 000 (1 min). */
  readonly baseLockoutMs: number;
  /** The longest temporary lockout, in ms. Default 3 600 000 (1 h). */
  readonly maxLockoutMs: number;
  /** Consecutive failures that lock permanently (NIST SP 800-63B §5.2.2: at most 100). Default 100; 90 for the `second_factor` bucket. */
  readonly maxConsecutiveFailures: number;
}

export const DEFAULT_ATTEMPT_POLICY: AttemptPolicy = Object.freeze({
  failuresPerLockout: 5,
  baseLockoutMs: 60_000,
  maxLockoutMs: 3_600_000,
  maxConsecutiveFailures: 100,
});

/** The shared bucket of the primary second factors (authenticator app, email code). */
export const SECOND_FACTOR_BUCKET = 'second_factor';

/** NIST SP 800-63B §5.2.2: consecutive failed second-factor attempts allowed per account, all buckets together. */
export const SECOND_FACTOR_FAILURE_CAP = 100;

/** The part of {@link SECOND_FACTOR_FAILURE_CAP} kept by the recovery-code bucket (the way out of a permanent lock). */
export const RECOVERY_CODE_FAILURE_SHARE = 10;

/**
 * Defaults of the {@link SECOND_FACTOR_BUCKET} bucket: {@link DEFAULT_ATTEMPT_POLICY} with 90 consecutive failures,
 * the rest of the per-account cap after the recovery codes' share.
 */
export const SECOND_FACTOR_ATTEMPT_POLICY: AttemptPolicy = Object.freeze({
  ...DEFAULT_ATTEMPT_POLICY,
  maxConsecutiveFailures: SECOND_FACTOR_FAILURE_CAP - RECOVERY_CODE_FAILURE_SHARE,
});

/**
 * How long a counter outlives the longest lockout its last failure could start: 30 days (see the module comment).
 * A permanent lock has no expiry.
 */
export const ATTEMPT_RETENTION_MS = 30 * 24 * 3_600_000;

/** The name of the TTL index of `factor_attempts`. */
export const ATTEMPT_TTL_INDEX = 'expires_at_ttl';

/** A reserved attempt; settle it with {@link AttemptLimiter.succeed} or {@link AttemptLimiter.fail}. */
export interface AttemptTicket {
  readonly accountId: string;
  readonly bucket: string;
}

/** The limiter's view of an account. */
export type AttemptStatus =
  | { readonly locked: false; readonly failures: number; readonly attemptsBeforeLockout: number }
  | ({ readonly locked: true; readonly failures: number } & LockState);

/** Per-account attempt limiter of one bucket. */
export interface AttemptLimiter {
  /** The bucket: accounts' counters are separate per bucket. */
  readonly bucket: string;
  readonly policy: AttemptPolicy;
  /** Reserves one attempt (counted as a failure until {@link succeed}); `locked` when none is left. */
  reserve(accountId: string): Promise<{ readonly ok: true; readonly ticket: AttemptTicket } | LockedFailure>;
  /** The attempt succeeded: resets the consecutive failures, the backoff and any lock. */
  succeed(ticket: AttemptTicket): Promise<void>;
  /**
   * The attempt failed. It writes nothing: {@link reserve} already counted the failure (and closed the window when
   * it took the last unit). It only reads the bucket and returns the lock in force now, if any — which the page
   * shows as "this failure started a lockout".
   */
  fail(ticket: AttemptTicket): Promise<LockState | undefined>;
  /**
   * The attempt was not a guess at an existing secret (e.g. the correct code confirming a *new* authenticator) and
   * must neither count nor reset anything: gives the reserved unit back (`failures - 1`, `budgetLeft + 1`) while
   * the window it was taken from is still open. When that reservation closed the window (a lockout started), the
   * failure stays counted. Unlike {@link succeed} it never clears earlier failures or locks.
   */
  release(ticket: AttemptTicket): Promise<void>;
  /**
   * Runs `check` inside a reserved attempt: `locked` without calling it when no attempt is left; otherwise
   * `succeed` when `check` returns `{ ok: true }`, `fail` otherwise (and when it throws, then rethrows). A failure
   * that caused a lockout carries it as `lock`.
   */
  guard<T extends { readonly ok: boolean }>(accountId: string, check: () => Promise<T>): Promise<(T & { readonly lock?: LockState }) | LockedFailure>;
  /** The current state (for pages: "locked for 3 more minutes"). */
  status(accountId: string): Promise<AttemptStatus>;
  /** Clears the account's counters and locks (support, a redeemed recovery code). Returns whether it was locked. */
  reset(accountId: string): Promise<boolean>;
  /** A limiter over the same collection and policy for another bucket. */
  withBucket(bucket: string): AttemptLimiter;
}

interface AttemptDoc {
  _id: string;
  accountId: string;
  bucket: string;
  /** Consecutive failures, reserved attempts included. */
  failures: number;
  /** Reservations left before the next lockout. */
  budgetLeft: number;
  /** Lockouts since the last success (drives the backoff). */
  lockouts: number;
  /** End of the current temporary lockout; the epoch when none. */
  lockedUntil: Date;
  permanent: boolean;
  lastAttemptAt: Date;
  /** When the TTL index deletes the counter; absent on a permanent lock (it never expires). */
  expiresAt?: Date;
}

const attemptSchema = new Schema<AttemptDoc>(
  {
    _id: { type: String, required: true },
    accountId: { type: String, required: true },
    bucket: { type: String, required: true },
    failures: { type: Number, required: true },
    budgetLeft: { type: Number, required: true },
    lockouts: { type: Number, required: true },
    lockedUntil: { type: Date, required: true },
    permanent: { type: Boolean, required: true },
    lastAttemptAt: { type: Date, required: true },
    expiresAt: { type: Date },
  },
  { versionKey: false, strict: 'throw' },
);
attemptSchema.index({ accountId: 1 });
attemptSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0, name: ATTEMPT_TTL_INDEX });

function attemptModel(conn: Connection): Model<AttemptDoc> {
  return (conn.models.FactorAttempt as Model<AttemptDoc> | undefined)
    ?? conn.model<AttemptDoc>('FactorAttempt', attemptSchema, 'factor_attempts');
}

const NOT_LOCKED = new Date(0);

/**
 * Creates the indexes of `factor_attempts` (account id; TTL on `expiresAt`) and gives counters written before
 * counters expired a 30-day expiry from now (permanent locks and windows waiting to be closed keep none);
 * idempotent, once per connection. Call it at start-up (the plugin's `ensureIndexes` does).
 */
export const ensureAttemptIndexes = oncePerConnection(buildAttemptIndexes);

async function buildAttemptIndexes(conn: Connection): Promise<void> {
  const model = attemptModel(conn);
  await model.createIndexes();
  const expiresAt = new Date(Date.now() + ATTEMPT_RETENTION_MS);
  await model.updateMany(
    { expiresAt: { $exists: false }, permanent: false, budgetLeft: { $gt: 0 }, lockedUntil: { $lt: expiresAt } },
    { $set: { expiresAt } },
  );
}

function checkPolicy(policy: AttemptPolicy): void {
  const problems: string[] = [];
  const positiveInt = (name: keyof AttemptPolicy): void => {
    if (!Number.isSafeInteger(policy[name]) || policy[name] <= 0) problems.push(`${name} must be a positive integer`);
  };
  positiveInt('failuresPerLockout');
  positiveInt('baseLockoutMs');
  positiveInt('maxLockoutMs');
  positiveInt('maxConsecutiveFailures');
  if (policy.maxConsecutiveFailures > 100) problems.push('maxConsecutiveFailures must be at most 100 (NIST SP 800-63B §5.2.2)');
  if (policy.maxLockoutMs < policy.baseLockoutMs) problems.push('maxLockoutMs must be at least baseLockoutMs');
  if (problems.length > 0) throw new Error(`invalid attempt policy: ${problems.join('; ')}`);
}

/** The length of the lockout number `lockouts` (0-based): base · 2^n, capped. */
export function lockoutMs(policy: AttemptPolicy, lockouts: number): number {
  return Math.min(policy.baseLockoutMs * 2 ** Math.min(lockouts, 40), policy.maxLockoutMs);
}

/** Creates a limiter over `factor_attempts` on `conn`. */
export function createAttemptLimiter(
  conn: Connection,
  options: { bucket?: string; policy?: Partial<AttemptPolicy> } = {},
): AttemptLimiter {
  const bucket = options.bucket ?? SECOND_FACTOR_BUCKET;
  const defaults = bucket === SECOND_FACTOR_BUCKET ? SECOND_FACTOR_ATTEMPT_POLICY : DEFAULT_ATTEMPT_POLICY;
  const policy: AttemptPolicy = Object.freeze({ ...defaults, ...options.policy });
  checkPolicy(policy);
  if (!/^[a-z][a-z0-9_]*$/.test(bucket)) throw new Error(`attempt bucket "${bucket}" must be lower_snake_case`);
  const model = attemptModel(conn);
  const keyOf = (accountId: string): string => `${bucket}:${accountId}`;
  /** The expiry a counter gets with a failure (or a success) at `at`: after the longest lockout it could start, 30 days. */
  const expiryAfter = (at: Date): Date => new Date(at.getTime() + policy.maxLockoutMs + ATTEMPT_RETENTION_MS);

  function fresh(accountId: string): AttemptDoc {
    return {
      _id: keyOf(accountId),
      accountId,
      bucket,
      failures: 0,
      budgetLeft: Math.min(policy.failuresPerLockout, policy.maxConsecutiveFailures),
      lockouts: 0,
      lockedUntil: NOT_LOCKED,
      permanent: false,
      lastAttemptAt: NOT_LOCKED,
      expiresAt: expiryAfter(new Date(Date.now())),
    };
  }

  /**
   * The reservation of an attempt that neither spends the window nor reaches the cap, in one command whether or not
   * the key has a counter yet: an upsert whose pipeline starts a missing counter from {@link fresh}. `undefined` when
   * nothing was reserved — the counter exists but is locked, spent or at the cap (the upsert's insert then collides
   * with its `_id`).
   */
  async function reserveOrInsert(accountId: string, now: Date): Promise<AttemptDoc | undefined> {
    const start = fresh(accountId);
    const orStart = <K extends keyof AttemptDoc>(field: K): unknown => ({ $ifNull: [`$${field}`, { $literal: start[field] }] });
    try {
      const doc = await model.findOneAndUpdate(
        { _id: start._id, budgetLeft: { $gt: 0 }, lockedUntil: { $lte: now }, permanent: false, failures: { $lt: policy.maxConsecutiveFailures - 1 } },
        [{
          $set: {
            accountId: orStart('accountId'),
            bucket: orStart('bucket'),
            lockouts: orStart('lockouts'),
            lockedUntil: orStart('lockedUntil'),
            budgetLeft: { $subtract: [orStart('budgetLeft'), 1] },
            failures: { $add: [orStart('failures'), 1] },
            lastAttemptAt: { $literal: now },
            expiresAt: { $literal: expiryAfter(now) },
          },
        }],
        { upsert: true, returnDocument: 'after', updatePipeline: true },
      ).lean<AttemptDoc>();
      return doc ?? undefined;
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
      return undefined;
    }
  }

  async function ensure(accountId: string): Promise<void> {
    try {
      await model.create(fresh(accountId));
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
    }
  }

  function lockOf(doc: AttemptDoc, now: number): LockState | undefined {
    if (doc.permanent) return { permanent: true };
    if (doc.lockedUntil.getTime() > now) return { until: doc.lockedUntil, permanent: false };
    return undefined;
  }

  /**
   * Closes a window whose budget is spent: a temporary lockout from `from` with a refilled budget, or the
   * permanent lock. Conditional on the snapshot, so it happens once per window whoever calls it.
   */
  async function closeWindow(doc: AttemptDoc, from: Date): Promise<void> {
    const filter = { _id: doc._id, budgetLeft: 0, failures: doc.failures, lockouts: doc.lockouts, permanent: false };
    const left = policy.maxConsecutiveFailures - doc.failures;
    if (left <= 0) {
      // The reservation of the last failure already removed the expiry; a window left unclosed by a crash may not have.
      await model.updateOne(filter, { $set: { permanent: true }, $unset: { expiresAt: 1 } });
      return;
    }
    await model.updateOne(filter, {
      $set: {
        budgetLeft: Math.min(policy.failuresPerLockout, left),
        lockedUntil: new Date(from.getTime() + lockoutMs(policy, doc.lockouts)),
      },
      $inc: { lockouts: 1 },
    });
  }

  async function reserve(accountId: string): Promise<{ ok: true; ticket: AttemptTicket } | LockedFailure> {
    checkAccountId(accountId);
    const _id = keyOf(accountId);
    // The failure that reaches the cap drops the expiry in the same update that counts it, so a permanent lock can
    // never be deleted by the TTL index, even if the process stops before closing the window. Which kind of
    // reservation to try is learnt from the read that follows a miss: the common one costs no extra round trip.
    const lastFailure = policy.maxConsecutiveFailures - 1;
    // A first attempt that neither spends the window nor reaches the cap is inserted already reserved.
    const firstAttemptFits = policy.failuresPerLockout > 1 && lastFailure > 0;
    let atCap = false;
    // A few rounds: the document may be missing (first attempt) or a crashed reservation may have left a spent
    // window unclosed; each round either reserves, reports a lock, or repairs one of those.
    for (let round = 0; round < 4; round += 1) {
      const now = new Date(Date.now());
      // The first round also starts a missing counter (one command either way); later rounds know it exists.
      const reserved = round === 0 && firstAttemptFits ? await reserveOrInsert(accountId, now) : await model.findOneAndUpdate(
        { _id, budgetLeft: { $gt: 0 }, lockedUntil: { $lte: now }, permanent: false, failures: atCap ? { $gte: lastFailure } : { $lt: lastFailure } },
        atCap
          ? { $inc: { budgetLeft: -1, failures: 1 }, $set: { lastAttemptAt: now }, $unset: { expiresAt: 1 } }
          : { $inc: { budgetLeft: -1, failures: 1 }, $set: { lastAttemptAt: now, expiresAt: expiryAfter(now) } },
        { returnDocument: 'after' },
      ).lean<AttemptDoc>();
      if (reserved) {
        if (reserved.budgetLeft <= 0) await closeWindow(reserved, now);
        return { ok: true, ticket: { accountId, bucket } };
      }
      const current = await model.findById(_id).lean<AttemptDoc>();
      if (!current) {
        await ensure(accountId);
        continue;
      }
      const lock = lockOf(current, now.getTime());
      if (lock) return { ok: false, code: 'locked', ...lock };
      if (current.budgetLeft <= 0) await closeWindow(current, current.lastAttemptAt);
      atCap = current.failures >= lastFailure;
    }
    // Only reachable under a storm of concurrent writes on one account: refuse rather than guess.
    const current = await model.findById(_id).lean<AttemptDoc>();
    const lock = current ? lockOf(current, Date.now()) : undefined;
    return { ok: false, code: 'locked', ...(lock ?? { until: new Date(Date.now() + policy.baseLockoutMs), permanent: false }) };
  }

  async function succeed(ticket: AttemptTicket): Promise<void> {
    const { budgetLeft, expiresAt } = fresh(ticket.accountId);
    await model.updateOne(
      { _id: keyOf(ticket.accountId) },
      { $set: { failures: 0, budgetLeft, lockouts: 0, lockedUntil: NOT_LOCKED, permanent: false, expiresAt } },
    );
  }

  /** `fail`: the failure was counted by `reserve`; this only reports the lock in force now. */
  async function lockAfterFailure(ticket: AttemptTicket): Promise<LockState | undefined> {
    const current = await model.findById(keyOf(ticket.accountId)).lean<AttemptDoc>();
    const lock = current ? lockOf(current, Date.now()) : undefined;
    return lock && current ? { ...lock, failures: current.failures } : lock;
  }

  async function release(ticket: AttemptTicket): Promise<void> {
    const now = new Date(Date.now());
    // Only inside the open window the unit came from: a closed window (lock set, budget refilled) keeps the failure.
    await model.updateOne(
      {
        _id: keyOf(ticket.accountId),
        failures: { $gt: 0 },
        budgetLeft: { $gte: 0, $lt: Math.min(policy.failuresPerLockout, policy.maxConsecutiveFailures) },
        lockedUntil: { $lte: now },
        permanent: false,
      },
      { $inc: { failures: -1, budgetLeft: 1 } },
    );
  }

  const limiter: AttemptLimiter = {
    bucket,
    policy,
    reserve,
    succeed,
    fail: lockAfterFailure,
    release,
    async guard<T extends { readonly ok: boolean }>(accountId: string, check: () => Promise<T>) {
      const reservation = await reserve(accountId);
      if (!reservation.ok) return reservation;
      let result: T;
      try {
        result = await check();
      } catch (err) {
        await lockAfterFailure(reservation.ticket);
        throw err;
      }
      if (result.ok) {
        await succeed(reservation.ticket);
        return result;
      }
      const lock = await lockAfterFailure(reservation.ticket);
      return lock ? { ...result, lock } : result;
    },
    async status(accountId: string): Promise<AttemptStatus> {
      checkAccountId(accountId);
      const current = await model.findById(keyOf(accountId)).lean<AttemptDoc>();
      const doc = current ?? fresh(accountId);
      const lock = lockOf(doc, Date.now());
      if (lock) return { locked: true, failures: doc.failures, ...lock };
      return { locked: false, failures: doc.failures, attemptsBeforeLockout: doc.budgetLeft };
    },
    async reset(accountId: string): Promise<boolean> {
      checkAccountId(accountId);
      const removed = await model.findOneAndDelete({ _id: keyOf(accountId) }).lean<AttemptDoc>();
      return removed ? lockOf(removed, Date.now()) !== undefined : false;
    },
    withBucket(other: string): AttemptLimiter {
      return createAttemptLimiter(conn, { bucket: other, policy });
    },
  };
  return Object.freeze(limiter);
}

/**
 * Support's reset (a customer locked out or without their authenticator asks support: `resetFactors`,
 * `unlockSecondFactor` in `src/security/support_actions.ts`): clears every bucket's failures and locks of the
 * account, the permanent lock included. Returns whether anything it removed was locked.
 *
 * Each bucket document is removed by a `findOneAndDelete`, so the answer describes exactly the documents this call
 * deleted (a lock written between a separate read and delete could otherwise be removed unreported).
 */
export async function resetAttempts(conn: Connection, accountId: string): Promise<boolean> {
  checkAccountId(accountId);
  const model = attemptModel(conn);
  const now = Date.now();
  let locked = false;
  for (;;) {
    const removed = await model.findOneAndDelete({ accountId }).lean<AttemptDoc>();
    if (!removed) return locked;
    if (removed.permanent || removed.lockedUntil.getTime() > now) locked = true;
  }
}

/**
 * Read-only: the lock in force on the account's second factor, across every bucket ({@link resetAttempts} lifts
 * exactly these), or `undefined` when none is. A permanent lock wins over a temporary one; of temporary locks, the
 * one ending last. For reports (the company admin's "locked" column); never creates or changes a document.
 */
export async function readLockState(conn: Connection, accountId: string, now: number = Date.now()): Promise<LockState | undefined> {
  checkAccountId(accountId);
  const docs = await attemptModel(conn).find({ accountId }).lean<AttemptDoc[]>();
  let lock: LockState | undefined;
  for (const doc of docs) {
    if (doc.permanent) return { permanent: true };
    if (doc.lockedUntil.getTime() > now && (!lock?.until || doc.lockedUntil > lock.until)) {
      lock = { until: doc.lockedUntil, permanent: false };
    }
  }
  return lock;
}
