/**
 * RFC 6238 TOTP primitives over otplib 13: the parameters authenticator apps honour (SHA1, 6 digits, 30 s — Google
 * Authenticator ignores `algorithm`, `digits` and `period`), 160-bit secrets (RFC 4226 §4 recommends 160 bits; NIST
 * SP 800-63B §5.1.4.1 asks ≥ 112), a ±1 step window (RFC 6238 §5.2 allows one step of network/clock delay).
 */
import { randomBytes } from 'node:crypto';
import { ScureBase32Plugin, verify as otpVerify } from 'otplib';

export const TOTP_ALGORITHM = 'sha1';
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** Steps accepted either side of the current one. */
export const TOTP_WINDOW_STEPS = 1;
export const TOTP_SECRET_BYTES = 20;

const base32 = new ScureBase32Plugin();

/** A fresh 160-bit secret. */
export function generateTotpSecret(): Buffer {
  return randomBytes(TOTP_SECRET_BYTES);
}

/** RFC 4648 base32 without padding (what otpauth URIs carry). */
export function encodeBase32(bytes: Uint8Array): string {
  return base32.encode(bytes, { padding: false });
}

/** The key for manual entry: base32 in groups of four ("JBSW Y3DP …"); apps ignore the spaces. */
export function formatManualKey(secretBase32: string): string {
  return secretBase32.match(/.{1,4}/g)?.join(' ') ?? '';
}

/**
 * The Key Uri Format URI: `otpauth://totp/<Issuer>:<email>?secret=…&issuer=<Issuer>&algorithm=SHA1&digits=6&period=30`.
 * Issuer and email are percent-encoded (a `:` or space inside them would break the label's `issuer:account` split).
 */
export function buildOtpauthUri(input: { issuer: string; accountName: string; secretBase32: string }): string {
  const issuer = encodeURIComponent(input.issuer);
  const label = `${issuer}:${encodeURIComponent(input.accountName)}`;
  const query = [
    `secret=${input.secretBase32}`,
    `issuer=${issuer}`,
    `algorithm=${TOTP_ALGORITHM.toUpperCase()}`,
    `digits=${TOTP_DIGITS}`,
    `period=${TOTP_PERIOD_SECONDS}`,
  ].join('&');
  return `otpauth://totp/${label}?${query}`;
}

/** Longest input looked at: anything longer is refused before any work. */
const MAX_INPUT_LENGTH = 64;

/**
 * The code in a form field, or `undefined` when it cannot be one: not a string, too long, or not exactly `digits`
 * digits once spaces are removed (apps show "099 183").
 */
export function normaliseTotpInput(input: unknown, digits: number = TOTP_DIGITS): string | undefined {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return undefined;
  const code = input.replace(/\s+/g, '');
  return code.length === digits && /^[0-9]+$/.test(code) ? code : undefined;
}

/** Options of {@link checkTotpCode}; defaults are the app parameters above and the current time. */
export interface TotpCheckOptions {
  /** Unix time in seconds. Default `Date.now()`. */
  readonly epochSeconds?: number;
  readonly digits?: number;
  /** Steps accepted either side. Default 1. */
  readonly windowSteps?: number;
}

/**
 * Checks a code against a secret within the window. Never throws for bad input: a malformed code or an unusable
 * secret is simply not valid. Returns the matched time step (RFC 6238 `T`), the unit of single use.
 */
export async function checkTotpCode(
  secret: Uint8Array,
  code: string,
  options: TotpCheckOptions = {},
): Promise<{ valid: true; timeStep: number } | { valid: false }> {
  const digits = options.digits ?? TOTP_DIGITS;
  if (normaliseTotpInput(code, digits) !== code) return { valid: false };
  try {
    const result = await otpVerify({
      secret,
      token: code,
      algorithm: TOTP_ALGORITHM,
      digits,
      period: TOTP_PERIOD_SECONDS,
      epoch: options.epochSeconds ?? Math.floor(Date.now() / 1000),
      epochTolerance: (options.windowSteps ?? TOTP_WINDOW_STEPS) * TOTP_PERIOD_SECONDS,
    });
    return result.valid && 'timeStep' in result ? { valid: true, timeStep: result.timeStep } : { valid: false };
  } catch {
    // otplib throws on malformed tokens and short secrets (NOTES.md); to the user that is a wrong code.
    return { valid: false };
  }
}
