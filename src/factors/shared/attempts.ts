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
 * Atomicity: an attempt is **reserved before the code is checked**: one conditional `findOneAndUpdate` takes a
 * lease on one unit of the window's budget (`inFlight + 1`, `free - 1`; refused when no unit is free or a lock is in
 * force). A parallel burst therefore gets at most the budget's units in flight at once; everything else is refused
 * without checking its code. The lease ends as the answer is known:
 * - a **failure** is counted with one conditional update before the answer is given (`failures + 1`, `budgetLeft - 1`,
 *   the lease gone); the failure that spends the window closes it at once (a lockout with a refilled budget, or the
 *   permanent lock at the cap);
 * - a **success** resets the consecutive failures, the backoff and any lock — and writes nothing when there is nothing
 *   to reset (no failure, no lockout, no other attempt in flight): its lease then simply runs out, `ATTEMPT_LEASE_MS`
 *   after it was taken (a second attempt on the same account within that time finds it and settles with a write);
 * - an attempt that is **not a guess** (the right code confirming a new authenticator) gives its unit back.
 * A check that dies with its process leaves only its lease, which runs out: nothing was answered, so nothing was
 * learnt. An answer is given only while the attempt's lease surely holds its unit ({@link ATTEMPT_ANSWER_MS} after it
 * was taken, a third of the lease): a check that finishes later is counted as a failure whatever its result and
 * answered `locked` — so the budget bounds the guesses *answered* in each window, however slow the checks are made —
 * and a check that uses something up asks first whether it is late ({@link AttemptInFlight}), so it leaves nothing
 * used up.
 * Leases form chains: a lease taken when none runs starts a new chain (`leaseChain`), and a failure whose chain is
 * gone still takes a unit of the window. A lease's end is never moved earlier, whatever the clock of the instance
 * that takes the next one. Only classic update operators and pipeline `$set`/`$unset` stages with plain arithmetic
 * are used.
 *
 * Expiry (TTL index on `expiresAt`, {@link ensureAttemptIndexes}). Anyone can create a counter — the password
 * throttle keys it by the typed email, registered or not — so counters must not pile up forever; yet a permanent
 * lock must outlive any silence (NIST SP 800-63B §5.2.2: after the cap only support or a recovery code unlocks), and
 * an unknown email must answer exactly like a registered one (no account enumeration: OWASP Authentication Cheat
 * Sheet, "Authentication and Error Messages"). The limiter never knows whether a key belongs to an account, so the
 * rule depends on the counter alone and is the same for every key:
 * - every reservation and every counted failure sets `expiresAt` to that attempt + the longest lockout
 *   (`maxLockoutMs`) + {@link ATTEMPT_RETENTION_MS} (30 days), in the same update: a counter nobody touches for a
 *   month after its last lockout could have ended is forgotten, so a wrong password for a made-up email leaves
 *   nothing that lasts;
 * - the failure that reaches the cap removes `expiresAt` in the update that counts it, and the permanent lock keeps
 *   none: it stays until {@link AttemptLimiter.reset} / {@link resetAttempts}, whoever the key belongs to;
 * - a success sets the fresh counter's `expiresAt` from now.
 * Consequences, accepted: an email nobody registered that someone drove to the permanent lock (100 failed password
 * checks, about 14 h of lockouts) stays stored like a registered one — storage grows at most by one row per 100
 * failures, never per request; and an attacker who stops short of the cap and then waits 30 days finds the
 * consecutive count cleared, i.e. at most `maxConsecutiveFailures - 1` guesses per account in about a month.
 */
import { randomUUID } from 'node:crypto';
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

/**
 * How long a reservation holds its unit of the budget at most (its lease): a success with nothing to reset leaves it
 * to run out (see the module comment).
 */
export const ATTEMPT_LEASE_MS = 15_000;

/**
 * How long after its reservation an attempt may still be answered: 5 s. The rest of the lease covers the time its
 * failure takes to be written and the clocks of several instances disagreeing (by up to 10 s together).
 */
export const ATTEMPT_ANSWER_MS = 5_000;

/** A reserved attempt; settle it with {@link AttemptLimiter.succeed}, {@link AttemptLimiter.fail} or {@link AttemptLimiter.release}. */
export interface AttemptTicket {
  readonly accountId: string;
  readonly bucket: string;
  /** Until when (ms since the epoch) the attempt may be answered ({@link ATTEMPT_ANSWER_MS}). */
  readonly answerBy: number;
  /** Nothing to reset on a success: no failure, no lockout, no other attempt in flight when it was reserved. */
  readonly clean: boolean;
  /** The chain of leases the attempt's lease belongs to (see `leaseChain`). */
  readonly chain: string;
}

/** The limiter's view of an account. */
export type AttemptStatus =
  | { readonly locked: false; readonly failures: number; readonly attemptsBeforeLockout: number }
  | ({ readonly locked: true; readonly failures: number } & LockState);

/**
 * What a guarded check learns of its attempt: whether its answer may still be given. A check that uses something up
 * (a code's time step, a recovery code, a pending enrolment) asks just before it does, and stops when it may not: a
 * late attempt is answered `locked` whatever it found, so it must leave nothing used up.
 */
export interface AttemptInFlight {
  /** Whether the attempt is past its answer time ({@link AttemptTicket.answerBy}). */
  late(): boolean;
}

/** What {@link AttemptLimiter.guard} does with the unit of a successful check. */
export interface GuardOptions {
  /**
   * `reset` (default): a success resets the consecutive failures and the backoff. `release`: the check was not a guess
   * at an existing secret (the right code confirming a *new* authenticator): its unit is given back, nothing reset.
   */
  readonly onSuccess?: 'reset' | 'release';
}

/** Per-account attempt limiter of one bucket. */
export interface AttemptLimiter {
  /** The bucket: accounts' counters are separate per bucket. */
  readonly bucket: string;
  readonly policy: AttemptPolicy;
  /** Reserves one attempt (a lease on a unit of the budget); `locked` when no unit is free. */
  reserve(accountId: string): Promise<{ readonly ok: true; readonly ticket: AttemptTicket } | LockedFailure>;
  /** The attempt succeeded: resets the consecutive failures, the backoff and any lock (no write when there are none). */
  succeed(ticket: AttemptTicket): Promise<void>;
  /**
   * The attempt failed: counts the failure (closing the window when it spends it) and returns the lock in force now,
   * if any — which the page shows as "this failure started a lockout".
   */
  fail(ticket: AttemptTicket): Promise<LockState | undefined>;
  /**
   * The attempt was not a guess at an existing secret (e.g. the correct code confirming a *new* authenticator) and
   * must neither count nor reset anything: gives the reserved unit back.
   */
  release(ticket: AttemptTicket): Promise<void>;
  /**
   * Runs `check` inside a reserved attempt: `locked` without calling it when no unit is free; otherwise the attempt
   * succeeds when `check` returns `{ ok: true }` and fails otherwise (and when it throws, then rethrows). A check that
   * finishes after {@link AttemptTicket.answerBy} is counted as a failure whatever its result and answered `locked`
   * (it can tell by {@link AttemptInFlight.late} and should then use nothing up). A failure that caused a lockout
   * carries it as `lock`.
   */
  guard<T extends { readonly ok: boolean }>(
    accountId: string, check: (attempt: AttemptInFlight) => Promise<T>, options?: GuardOptions,
  ): Promise<(T & { readonly lock?: LockState }) | LockedFailure>;
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
  /** Consecutive failures. */
  failures: number;
  /** Failures left before the next lockout. */
  budgetLeft: number;
  /** Reservations whose lease has not ended (meaningful while `leasesUntil` is ahead; stale leases are dropped). */
  inFlight?: number;
  /** Units free to reserve while leases run: `budgetLeft - inFlight`. */
  free?: number;
  /** When the newest lease ends; every earlier one is taken to end with it. */
  leasesUntil?: Date;
  /**
   * The chain of leases running now: a new id whenever a lease is taken with none running. An attempt whose chain is
   * gone (its lease ran out and a new chain started) no longer counts in `inFlight`.
   */
  leaseChain?: string;
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
    inFlight: { type: Number },
    free: { type: Number },
    leasesUntil: { type: Date },
    leaseChain: { type: String },
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

  /** Whether leases taken before `now` may still run (else `inFlight` and `free` are stale). */
  const leasesRun = (doc: AttemptDoc, now: number): boolean => (doc.leasesUntil?.getTime() ?? 0) > now;

  /**
   * Takes a lease on a free unit, in one command whether or not the key has a counter yet: an upsert whose pipeline
   * starts a missing counter from {@link fresh} and drops leases that ran out. `undefined` when no unit was free or a
   * lock is in force (the upsert's insert then collides with the counter's `_id`).
   */
  async function takeLease(accountId: string, now: Date): Promise<AttemptDoc | undefined> {
    const start = fresh(accountId);
    const orStart = <K extends keyof AttemptDoc>(field: K): unknown => ({ $ifNull: [`$${field}`, { $literal: start[field] }] });
    const leasesRunning = { $gt: [{ $ifNull: ['$leasesUntil', { $literal: NOT_LOCKED }] }, { $literal: now }] };
    const leaseEnd = new Date(now.getTime() + ATTEMPT_LEASE_MS);
    try {
      const doc = await model.findOneAndUpdate(
        {
          _id: start._id,
          permanent: false,
          lockedUntil: { $lte: now },
          failures: { $lt: policy.maxConsecutiveFailures },
          budgetLeft: { $gt: 0 },
          // A free unit: the window's budget when no lease runs, else what the running leases left.
          $or: [{ leasesUntil: { $not: { $gt: now } } }, { leasesUntil: { $gt: now }, free: { $gt: 0 } }],
        },
        [
          {
            $set: {
              accountId: orStart('accountId'),
              bucket: orStart('bucket'),
              failures: orStart('failures'),
              budgetLeft: orStart('budgetLeft'),
              lockouts: orStart('lockouts'),
              lockedUntil: orStart('lockedUntil'),
              inFlight: { $cond: [leasesRunning, { $add: [{ $ifNull: ['$inFlight', 0] }, 1] }, 1] },
              // Never shortened: an instance whose clock lags must not end the leases another one took.
              leasesUntil: { $cond: [leasesRunning, { $max: ['$leasesUntil', { $literal: leaseEnd }] }, { $literal: leaseEnd }] },
              leaseChain: { $cond: [leasesRunning, '$leaseChain', { $literal: randomUUID() }] },
              lastAttemptAt: { $literal: now },
              expiresAt: { $literal: expiryAfter(now) },
            },
          },
          { $set: { free: { $subtract: ['$budgetLeft', '$inFlight'] } } },
        ],
        { upsert: true, returnDocument: 'after', updatePipeline: true },
      ).lean<AttemptDoc>();
      return doc ?? undefined;
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
      return undefined;
    }
  }

  function lockOf(doc: AttemptDoc, now: number): LockState | undefined {
    if (doc.permanent) return { permanent: true };
    if (doc.lockedUntil.getTime() > now) return { until: doc.lockedUntil, permanent: false };
    return undefined;
  }

  /**
   * Closes a window whose budget is spent: a temporary lockout from `from` with a refilled budget, or the
   * permanent lock. Conditional on the snapshot, so it happens once per window whoever calls it. Returns the lock
   * it set, or `undefined` when another request changed the counter first.
   */
  async function closeWindow(doc: AttemptDoc, from: Date): Promise<LockState | undefined> {
    const filter = { _id: doc._id, budgetLeft: doc.budgetLeft, failures: doc.failures, lockouts: doc.lockouts, permanent: false };
    const left = policy.maxConsecutiveFailures - doc.failures;
    if (left <= 0) {
      // The failure that reached the cap already removed the expiry; a window left unclosed by a crash may not have.
      const closed = await model.updateOne(filter, { $set: { permanent: true }, $unset: { expiresAt: 1 } });
      return closed.matchedCount > 0 ? { permanent: true } : undefined;
    }
    const budgetLeft = Math.min(policy.failuresPerLockout, left);
    const until = new Date(from.getTime() + lockoutMs(policy, doc.lockouts));
    const closed = await model.updateOne(filter, [
      { $set: { budgetLeft, lockedUntil: { $literal: until }, lockouts: { $add: ['$lockouts', 1] } } },
      { $set: { free: { $subtract: ['$budgetLeft', { $ifNull: ['$inFlight', 0] }] } } },
    ], { updatePipeline: true });
    return closed.matchedCount > 0 ? { until, permanent: false } : undefined;
  }

  async function reserve(accountId: string): Promise<{ ok: true; ticket: AttemptTicket } | LockedFailure> {
    checkAccountId(accountId);
    const _id = keyOf(accountId);
    // A few rounds: a counter may vanish or change under a reservation (a support reset, a parallel request), or a
    // crash may have left a spent window unclosed; each round either reserves, reports a lock, or repairs.
    for (let round = 0; round < 4; round += 1) {
      const now = new Date(Date.now());
      const leased = await takeLease(accountId, now);
      if (leased) {
        const clean = leased.failures === 0 && leased.lockouts === 0 && leased.inFlight === 1;
        return { ok: true, ticket: { accountId, bucket, answerBy: now.getTime() + ATTEMPT_ANSWER_MS, clean, chain: leased.leaseChain ?? '' } };
      }
      const current = await model.findById(_id).lean<AttemptDoc>();
      if (!current) continue;
      // A window a crash (or failures counted during a lockout) left unclosed is closed first: at the cap for good.
      if (!current.permanent && current.failures >= policy.maxConsecutiveFailures) {
        await closeWindow(current, current.lastAttemptAt);
        continue;
      }
      const lock = lockOf(current, now.getTime());
      if (lock) return { ok: false, code: 'locked', ...lock };
      if (current.budgetLeft <= 0) {
        await closeWindow(current, current.lastAttemptAt);
        continue;
      }
      // Every unit is held by attempts in flight: refused until their leases end (a burst of parallel guesses).
      if (leasesRun(current, now.getTime()) && (current.free ?? 0) <= 0) {
        return { ok: false, code: 'locked', until: current.leasesUntil ?? new Date(now.getTime() + ATTEMPT_LEASE_MS), permanent: false };
      }
    }
    // Only reachable under a storm of concurrent writes on one account: refuse rather than guess.
    const current = await model.findById(_id).lean<AttemptDoc>();
    const lock = current ? lockOf(current, Date.now()) : undefined;
    return { ok: false, code: 'locked', ...(lock ?? { until: new Date(Date.now() + policy.baseLockoutMs), permanent: false }) };
  }

  async function succeed(ticket: AttemptTicket): Promise<void> {
    if (ticket.clean) return;
    const { budgetLeft, expiresAt } = fresh(ticket.accountId);
    await model.updateOne(
      { _id: keyOf(ticket.accountId) },
      [
        {
          $set: {
            failures: 0,
            budgetLeft,
            lockouts: 0,
            lockedUntil: { $literal: NOT_LOCKED },
            permanent: false,
            expiresAt: { $literal: expiresAt },
            inFlight: leaseEnded(ticket, { $ifNull: ['$inFlight', 0] }),
          },
        },
        { $set: { free: { $subtract: ['$budgetLeft', '$inFlight'] } } },
      ],
      { updatePipeline: true },
    );
  }

  /**
   * `inFlight` once the ticket's lease ended: one less while its chain runs, else unchanged (a new chain does not
   * count it). Never below zero.
   */
  function leaseEnded(ticket: AttemptTicket, inFlight: unknown): unknown {
    return { $cond: [{ $eq: ['$leaseChain', ticket.chain] }, { $max: [{ $subtract: [inFlight, 1] }, 0] }, inFlight] };
  }

  async function fail(ticket: AttemptTicket): Promise<LockState | undefined> {
    const now = new Date(Date.now());
    const _id = keyOf(ticket.accountId);
    // The lease becomes a failure: `budgetLeft` drops by one, and `inFlight` too while the lease's chain runs (`free`
    // stays); a lease whose chain is gone no longer counted in flight, so the failure takes a unit of `free`. The
    // failure that reaches the cap drops the expiry in the same update, so a permanent lock can never be deleted by the
    // TTL index, even if the process stops before closing the window.
    const held = { $eq: ['$leaseChain', ticket.chain] };
    const counting = {
      $set: {
        failures: { $add: ['$failures', 1] },
        budgetLeft: { $subtract: ['$budgetLeft', 1] },
        inFlight: leaseEnded(ticket, { $ifNull: ['$inFlight', 0] }),
        free: { $cond: [held, { $ifNull: ['$free', 0] }, { $subtract: [{ $ifNull: ['$free', 0] }, 1] }] },
        lastAttemptAt: { $literal: now },
        expiresAt: { $literal: expiryAfter(now) },
      },
    };
    const counted = await model.findOneAndUpdate(
      { _id, failures: { $lt: policy.maxConsecutiveFailures - 1 } },
      [counting],
      { returnDocument: 'after', updatePipeline: true },
    ).lean<AttemptDoc>() ?? await model.findOneAndUpdate(
      { _id },
      [counting, { $unset: 'expiresAt' }],
      { returnDocument: 'after', updatePipeline: true },
    ).lean<AttemptDoc>();
    // No counter: support reset it while the attempt ran.
    if (!counted) return undefined;
    const inForce = lockOf(counted, now.getTime());
    const closes = !counted.permanent && (counted.failures >= policy.maxConsecutiveFailures || (!inForce && counted.budgetLeft <= 0));
    const lock = (closes ? await closeWindow(counted, now) : undefined) ?? inForce;
    return lock && { ...lock, failures: counted.failures };
  }

  async function release(ticket: AttemptTicket): Promise<void> {
    const now = new Date(Date.now());
    // Only while its chain of leases runs: once it ran out, the unit is free again anyway.
    await model.updateOne(
      { _id: keyOf(ticket.accountId), leaseChain: ticket.chain, leasesUntil: { $gt: now }, inFlight: { $gt: 0 } },
      { $inc: { inFlight: -1, free: 1 } },
    );
  }

  /** A check answered too late: counted as a failure whatever its result, and refused. */
  async function tooLate(ticket: AttemptTicket): Promise<LockedFailure> {
    const lock = await fail(ticket);
    return { ok: false, code: 'locked', ...(lock ?? { until: new Date(ticket.answerBy - ATTEMPT_ANSWER_MS + ATTEMPT_LEASE_MS), permanent: false }) };
  }

  const limiter: AttemptLimiter = {
    bucket,
    policy,
    reserve,
    succeed,
    fail,
    release,
    async guard<T extends { readonly ok: boolean }>(accountId: string, check: (attempt: AttemptInFlight) => Promise<T>, guardOptions: GuardOptions = {}) {
      const reservation = await reserve(accountId);
      if (!reservation.ok) return reservation;
      const { ticket } = reservation;
      let result: T;
      try {
        result = await check({ late: () => Date.now() > ticket.answerBy });
      } catch (err) {
        await fail(ticket);
        throw err;
      }
      if (Date.now() > ticket.answerBy) return tooLate(ticket);
      if (result.ok) {
        await (guardOptions.onSuccess === 'release' ? release(ticket) : succeed(ticket));
        return result;
      }
      const lock = await fail(ticket);
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
