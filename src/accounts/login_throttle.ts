/**
 * Password-guessing limits of the login step (NIST SP 800-63B §5.2.2, OWASP ASVS 2.2.1):
 *
 * - **per email**: the shared attempt limiter (`factor_attempts`, bucket `password`) keyed by a keyed hash of the
 *   normalised email, never the account id, so an unknown email is throttled exactly like a registered one and
 *   the lockout says nothing about whether an account exists. An attempt is reserved before the password is
 *   checked (a parallel burst gets at most the budget), then settled as a success (resets) or a failure.
 * - **per process**: at most {@link MAX_CONCURRENT_PASSWORD_CHECKS} password checks (19 MiB Argon2id each) run at
 *   once; the others wait in line, so a flood cannot take every libuv thread (and all memory) from the rest. The
 *   reservation, the check and its settling run in one slot, so time in the line never uses up an attempt's lease.
 *
 * The hash key is derived from the provider's cookie keys (the first, signing one): every instance of one
 * deployment derives the same key. Rotating the cookie keys starts fresh counters.
 */
import { createHmac } from 'node:crypto';
import type { Connection } from 'mongoose';
import type Provider from 'oidc-provider';
import { createAttemptLimiter, type AttemptLimiter, type AttemptPolicy } from '../factors/shared/attempts.ts';
import type { LockState } from '../factors/contract.ts';
import { createSemaphore } from '../shared/semaphore.ts';

/** The attempt-limiter bucket of password logins. */
export const PASSWORD_BUCKET = 'password';

/**
 * Password attempts per email: 5 failures, then a lockout of 1 min, doubling up to 1 h; 100 consecutive failures
 * lock until support resets it (NIST SP 800-63B §5.2.2). A success resets everything.
 */
export const PASSWORD_ATTEMPT_POLICY: AttemptPolicy = Object.freeze({
  failuresPerLockout: 5,
  baseLockoutMs: 60_000,
  maxLockoutMs: 3_600_000,
  maxConsecutiveFailures: 100,
});

/** Password checks (Argon2id) running at once in this process; the rest queue. */
export const MAX_CONCURRENT_PASSWORD_CHECKS = 4;

/** The outcome of one throttled login attempt. */
export type ThrottledLogin<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: 'invalid'; readonly lock?: LockState }
  | { readonly ok: false; readonly code: 'locked'; readonly lock: LockState };

const passwordChecks = createSemaphore(MAX_CONCURRENT_PASSWORD_CHECKS);

/** The same normalisation as account emails (trim, NFC, lower case), without refusing what is not an email. */
function normaliseForKey(email: string): string {
  return email.trim().normalize('NFC').toLowerCase();
}

/** Where the hash key comes from: the Provider (its `keys`), or `{ keys: providerKeys.cookieKeys }` outside a server. */
export type ThrottleKeySource = Pick<Provider, 'keys'> | { readonly keys: readonly string[] };

const hashKeys = new WeakMap<object, Buffer>();

function hashKeyOf(source: ThrottleKeySource): Buffer {
  let key = hashKeys.get(source);
  if (!key) {
    const keys: unknown = source.keys;
    const cookieKey: unknown = Array.isArray(keys) ? keys[0] : undefined;
    if (typeof cookieKey !== 'string' || cookieKey === '') throw new Error('the provider has no cookie keys (cookies.keys)');
    key = createHmac('sha256', cookieKey).update('oidc-stepup/login-throttle/v1').digest();
    hashKeys.set(source, key);
  }
  return key;
}

/** The limiter key of an email: HMAC-SHA256 of the normalised email, base64url (no email in the database). */
export function loginThrottleKey(source: ThrottleKeySource, email: string): string {
  return createHmac('sha256', hashKeyOf(source)).update(normaliseForKey(email)).digest('base64url');
}

/**
 * Support's unlock of an email's password attempts (the counters are keyed by the email's hash, so
 * `resetAttempts(conn, accountId)` does not reach them). Returns whether it was locked.
 */
export async function resetLoginThrottle(conn: Connection, source: ThrottleKeySource, email: string): Promise<boolean> {
  return passwordAttemptLimiter(conn).reset(loginThrottleKey(source, email));
}

const limiters = new WeakMap<Connection, AttemptLimiter>();

/** The password-attempt limiter on `conn` (one per connection). */
export function passwordAttemptLimiter(conn: Connection): AttemptLimiter {
  let limiter = limiters.get(conn);
  if (!limiter) {
    limiter = createAttemptLimiter(conn, { bucket: PASSWORD_BUCKET, policy: PASSWORD_ATTEMPT_POLICY });
    limiters.set(conn, limiter);
  }
  return limiter;
}

/**
 * Runs `check` (the password verification; null = wrong) for `email` within the limits: `locked` without
 * running it when the email has no attempt left; otherwise the check runs in a process-wide slot and the
 * attempt is settled. `lock` on an `invalid` result: this failure started a lockout.
 */
export async function throttleLogin<T>(
  deps: { provider: Provider; conn: Connection },
  email: string,
  check: () => Promise<T | null>,
): Promise<ThrottledLogin<T>> {
  // The attempt is reserved inside the process's slot, so time spent queueing holds no lease: a flood of sign-ins
  // slows the check down instead of letting its lease run out (src/factors/shared/attempts.ts).
  const attempt = await passwordChecks.run(() => passwordAttemptLimiter(deps.conn).guard(loginThrottleKey(deps.provider, email), async () => {
    const value = await check();
    return value === null ? { ok: false as const } : { ok: true as const, value };
  }));
  if (attempt.ok) return { ok: true, value: attempt.value };
  if ('code' in attempt) {
    const { ok: _ok, code: _code, ...lock } = attempt;
    return { ok: false, code: 'locked', lock };
  }
  return attempt.lock ? { ok: false, code: 'invalid', lock: attempt.lock } : { ok: false, code: 'invalid' };
}

/** Whole minutes until `lock` ends (at least 1); undefined for a permanent lock. */
export function minutesUntil(lock: LockState, nowMs: number = Date.now()): number | undefined {
  if (lock.permanent || !lock.until) return undefined;
  return Math.max(1, Math.ceil((lock.until.getTime() - nowMs) / 60_000));
}
