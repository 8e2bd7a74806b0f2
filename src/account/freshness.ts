/**
 * Re-authentication before changes (OWASP ASVS 7.5.1, seed 002 "enter your password and click Confirm password"):
 * a change is accepted only within {@link REAUTH_WINDOW_MS} of the last authentication (`auth_time` of the console's
 * ID token), and — when the account holds a usable second factor — only if that authentication proved one too.
 * So a password-only session can never add, replace or remove a factor of an account that has one (enrolment
 * hijack). Pure: the clock is passed in.
 */
import { LEVEL, levelOf } from '../policy/acr.ts';
import type { SignedIn } from './session.ts';

/** How recent the re-authentication must be: 5 minutes. */
export const REAUTH_WINDOW_MS = 5 * 60_000;

/** When a second factor was proven at the ID token's `auth_time`: its `acr` is multi-factor and `amr` says `mfa`. */
export function secondFactorTime(acr: string, amr: readonly string[], authTime: Date): Date | null {
  return (levelOf(acr) ?? LEVEL.none) >= LEVEL.mfa && amr.includes('mfa') ? authTime : null;
}

/** Whether `signedIn` may change the account's security settings now. */
export function isFresh(signedIn: SignedIn, hasSecondFactor: boolean, now: number): boolean {
  const recent = (at: Date | null): boolean => at !== null && now - at.getTime() <= REAUTH_WINDOW_MS && at.getTime() <= now + 60_000;
  if (!recent(signedIn.authTime)) return false;
  return !hasSecondFactor || recent(signedIn.secondFactorAt);
}
