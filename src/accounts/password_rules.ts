/**
 * The rules of a new password, wherever one is chosen (the console's "Change password", a reset by emailed link):
 * NIST SP 800-63B §5.1.1.2 — length only, {@link PASSWORD_MIN_LENGTH}–{@link PASSWORD_MAX_LENGTH} code points, no
 * composition rules — and not the account's email address. The form asks for it twice.
 */
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './accounts.ts';

/** Stable ids of a new password's refusals, and what the customer reads. */
export const PASSWORD_MESSAGES = {
  password_required: 'Enter your new password in both fields.',
  password_too_short: `Your new password is too short: use at least ${PASSWORD_MIN_LENGTH} characters.`,
  password_too_long: `Your new password is too long: use at most ${PASSWORD_MAX_LENGTH} characters.`,
  password_is_email: 'Your new password must not be your email address. Choose something else.',
  password_mismatch: 'The two passwords do not match. Type the same new password in both fields.',
} as const;
export type PasswordMessageId = keyof typeof PASSWORD_MESSAGES;

/** The first problem of a new password (length in code points, like `setPassword`), or `undefined`. */
export function newPasswordProblem(password: string, repeated: string, email: string): PasswordMessageId | undefined {
  if (password.length === 0 || repeated.length === 0) return 'password_required';
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return 'password_too_short';
  if (length > PASSWORD_MAX_LENGTH) return 'password_too_long';
  if (password !== repeated) return 'password_mismatch';
  if (password.trim().normalize('NFC').toLowerCase() === email.trim().normalize('NFC').toLowerCase()) return 'password_is_email';
  return undefined;
}
