/**
 * Recovery codes (NIST SP 800-63B §5.1.2 "look-up secrets"): 12 symbols of Crockford's base32 (no I, L, O, U: easy
 * to read aloud and to type), shown as `xxxx-xxxx-xxxx`; 60 bits each (SP 800-63B asks ≥ 20 bits for look-up
 * secrets; 60 also makes an offline search of a stolen hash impractical even without the pepper).
 *
 * Stored as HMAC-SHA256(pepper, accountId ‖ code). A slow password hash (scrypt) exists to stretch *low-entropy*
 * secrets; these codes are random and long, so a keyed hash is enough, and the pepper (from config, never in the
 * database) makes a database dump alone useless. The account id inside the MAC scopes each hash to its account.
 */
import { createHmac, randomInt } from 'node:crypto';

/** Crockford's base32 alphabet. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const RECOVERY_CODE_SYMBOLS = 12;
export const RECOVERY_CODE_COUNT = 10;
export const RECOVERY_CODE_BITS = RECOVERY_CODE_SYMBOLS * Math.log2(ALPHABET.length);
const MAX_INPUT_LENGTH = 64;
export const MIN_PEPPER_BYTES = 32;

/** One fresh code, formatted `xxxx-xxxx-xxxx`. */
export function generateRecoveryCode(): string {
  let raw = '';
  for (let i = 0; i < RECOVERY_CODE_SYMBOLS; i += 1) raw += ALPHABET[randomInt(ALPHABET.length)];
  return formatRecoveryCode(raw);
}

/** Groups a normalised code in fours with dashes. */
export function formatRecoveryCode(normalised: string): string {
  return normalised.match(/.{1,4}/g)?.join('-') ?? '';
}

/**
 * The canonical form of user input, or `undefined` when it cannot be a code: case-insensitive, spaces, dashes and
 * underscores ignored, and the look-alikes Crockford's base32 defines mapped (`o` → `0`, `i`/`l` → `1`).
 */
export function normaliseRecoveryCode(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return undefined;
  const cleaned = input.toLowerCase().replace(/[\s_-]+/g, '').replace(/o/g, '0').replace(/[il]/g, '1');
  if (cleaned.length !== RECOVERY_CODE_SYMBOLS) return undefined;
  for (const char of cleaned) if (!ALPHABET.includes(char)) return undefined;
  return cleaned;
}

/** The stored form of a normalised code (hex). */
export function hashRecoveryCode(pepper: Buffer, accountId: string, normalised: string): string {
  return createHmac('sha256', pepper).update(accountId, 'utf8').update('\0').update(normalised, 'utf8').digest('hex');
}
