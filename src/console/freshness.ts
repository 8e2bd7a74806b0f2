/**
 * Re-authentication before changes (OWASP ASVS 7.5.1; "enter your password and click Confirm password"): a change is
 * accepted only within {@link REAUTH_WINDOW_MS} of a **re-authentication** — a sign-in the console itself requested,
 * pushed to the provider (RFC 9126) with `max_age=0` and the level of the account's strongest factor, whose ID token
 * shows it completed after the request at that level. The provider asks for every method of that level again when
 * `max_age` is 0, so the password and, when the account holds one, its strongest second factor were proven after the
 * change was asked for. The console's first sign-in (which may reuse an earlier session) never counts. Pure: the clock
 * is passed in.
 */
import type { SignedIn } from './session.ts';

/** How recent the re-authentication must be: 5 minutes. */
export const REAUTH_WINDOW_MS = 5 * 60_000;

/** Whether `signedIn` may change security settings that need `level` (1: password; 2, 3: a second factor too) now. */
export function isFresh(signedIn: SignedIn, level: number, now: number): boolean {
  const at = signedIn.reauthAt;
  if (!at || signedIn.reauthLevel < level) return false;
  return now - at.getTime() <= REAUTH_WINDOW_MS && at.getTime() <= now + 60_000;
}
