/**
 * The messages of second-factor failures (stable ids, OWASP: clear, specific, no hint whether an account exists),
 * shared by the sign-in pages and the security console.
 */
import type { Factor, FactorFailure } from './contract.ts';

/** Stable message ids of the second-factor pages. */
export const MFA_MESSAGES = {
  invalid_code: 'This code is not correct. Check it and try again.',
  code_replayed: 'This code was already used. Wait for the next code in your app and enter it.',
  locked: 'Too many wrong codes. Try again in {minutes}.',
  locked_permanent: 'Your second factor is locked after too many wrong codes. Use a recovery code, or ask support to unlock it.',
  expired: 'This code has expired. Request a new code.',
  too_many_tries: 'This code was entered wrongly too often. Request a new code.',
  too_many_codes: 'Too many codes were sent. Try again in {minutes}, or use another method.',
  resend_too_soon: 'A code was sent a moment ago. Wait {seconds} seconds before asking for a new one.',
  mail_failed: 'We could not send the email. Try again, or use another method.',
  not_enrolled: 'This method is not set up for your account. Choose another method.',
  already_enrolled: 'A second factor is already set up for this account.',
  invalid_form: 'The form was not filled in correctly. Enter the code again.',
  code_missing: 'Enter the code first.',
  code_malformed: 'That is not a code of this kind. Check it and enter it again (this try did not count).',
} as const;
export type MfaMessageId = keyof typeof MFA_MESSAGES;

export const STATUS: Partial<Record<MfaMessageId, number>> = { locked: 429, locked_permanent: 429, too_many_codes: 429, resend_too_soon: 429 };

function minutesText(ms: number): string {
  const minutes = Math.max(1, Math.ceil(ms / 60_000));
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

/** The page message for a factor failure; `factor` gives its own words for a wrong code. */
export function failureMessage(failure: FactorFailure, factor?: Pick<Factor, 'wrongCode'>): { id: MfaMessageId; text: string } {
  if (failure.code === 'locked' || failure.lock) {
    const lock = failure.code === 'locked' ? failure : failure.lock;
    if (lock?.permanent || !lock?.until) return { id: 'locked_permanent', text: MFA_MESSAGES.locked_permanent };
    return { id: 'locked', text: MFA_MESSAGES.locked.replace('{minutes}', minutesText(lock.until.getTime() - Date.now())) };
  }
  const id = failure.code as MfaMessageId;
  if (id === 'invalid_code' && factor?.wrongCode) return { id, text: factor.wrongCode };
  const retry = failure.retryAfterSeconds ?? 60;
  const text = (MFA_MESSAGES[id] ?? MFA_MESSAGES.invalid_code)
    .replace('{minutes}', minutesText(retry * 1000))
    .replace('{seconds}', String(retry));
  return { id, text };
}

/** The message for an entry refused before any check (empty, or not a code of this factor): nothing was counted. */
export function entryMessage(input: unknown): { id: MfaMessageId; text: string } {
  const empty = typeof input !== 'string' || input.trim() === '';
  return empty ? { id: 'code_missing', text: MFA_MESSAGES.code_missing } : { id: 'code_malformed', text: MFA_MESSAGES.code_malformed };
}
