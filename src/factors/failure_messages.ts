/**
 * The messages of second-factor failures (stable ids, OWASP: clear, specific, no hint whether an account exists),
 * shared by the sign-in pages and the security console. The words are the catalogues' `mfa.error.<id>`
 * (`locales/<language>.json`): code here names them, the page says them in the reader's language.
 */
import { msg, type Message } from '../i18n/languages.ts';
import type { Factor, FactorFailure } from './contract.ts';

/** Stable message ids of the second-factor pages (also the pages' `data-message`); each is `mfa.error.<id>`. */
export const MFA_MESSAGE_IDS = [
  'invalid_code',
  'code_replayed',
  'locked',
  'locked_permanent',
  'expired',
  'too_many_tries',
  'too_many_codes',
  'resend_too_soon',
  'mail_failed',
  'not_enrolled',
  'already_enrolled',
  'invalid_form',
  'code_missing',
  'code_malformed',
] as const;
export type MfaMessageId = (typeof MFA_MESSAGE_IDS)[number];

/** A failure as a page shows it: its stable id, and the message in whatever language the page is. */
export interface FailureMessage {
  readonly id: MfaMessageId;
  readonly message: Message;
}

export const STATUS: Partial<Record<MfaMessageId, number>> = { locked: 429, locked_permanent: 429, too_many_codes: 429, resend_too_soon: 429 };

function isMfaMessageId(value: string): value is MfaMessageId {
  return (MFA_MESSAGE_IDS as readonly string[]).includes(value);
}

/** The message `mfa.error.<id>`; `minutes` and `seconds` fill the waits (the catalogues choose the plural). */
export function mfaMessage(id: MfaMessageId, values: { minutes?: number; seconds?: number } = {}): FailureMessage {
  return { id, message: msg(`mfa.error.${id}`, { minutes: values.minutes ?? 1, seconds: values.seconds ?? 60 }) };
}

/** Whole minutes of a wait, at least 1 (a lock ending in 20 seconds is "1 minute"). */
function minutesOf(ms: number): number {
  return Math.max(1, Math.ceil(ms / 60_000));
}

/** The page message for a factor failure; `factor` gives its own words for a wrong code (a message id or text). */
export function failureMessage(failure: FactorFailure, factor?: Pick<Factor, 'wrongCode'>): FailureMessage {
  if (failure.code === 'locked' || failure.lock) {
    const lock = failure.code === 'locked' ? failure : failure.lock;
    if (lock?.permanent || !lock?.until) return mfaMessage('locked_permanent');
    return mfaMessage('locked', { minutes: minutesOf(lock.until.getTime() - Date.now()) });
  }
  const id: MfaMessageId = isMfaMessageId(failure.code) ? failure.code : 'invalid_code';
  if (id === 'invalid_code' && factor?.wrongCode) return { id, message: msg(factor.wrongCode) };
  const retry = failure.retryAfterSeconds ?? 60;
  return mfaMessage(id, { minutes: minutesOf(retry * 1000), seconds: retry });
}

/** The message for an entry refused before any check (empty, or not a code of this factor): nothing was counted. */
export function entryMessage(input: unknown): FailureMessage {
  const empty = typeof input !== 'string' || input.trim() === '';
  return mfaMessage(empty ? 'code_missing' : 'code_malformed');
}
