/**
 * Recovery codes (NIST SP 800-63B §5.1.2 "look-up secrets"): 24 symbols of Crockford's base32 (no I, L, O, U: easy
 * to read aloud and to type), shown in four groups of six, `xxxxxx-xxxxxx-xxxxxx-xxxxxx`; 120 bits each.
 *
 * Why 120 bits: SP 800-63B §5.1.2.2 says look-up secrets with **less than 112 bits** of entropy SHALL be salted and
 * hashed with an approved key derivation function (a slow, salted hash per code, which would also turn verification
 * into one KDF per stored code instead of one indexed lookup). With at least 112 bits a keyed hash is enough: the
 * codes are random, no dictionary exists to search, and an offline search of 2^120 is out of reach even with the
 * pepper. So each code is stored as HMAC-SHA256(pepper, accountId ‖ code): the pepper (from config, never in the
 * database) makes a database dump alone useless, the account id scopes each hash to its account, and verifying is
 * one lookup by `_id`.
 */
import { createHmac, randomInt } from 'node:crypto';

/** Crockford's base32 alphabet. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const RECOVERY_CODE_SYMBOLS = 24;
/** Symbols per group in the shown form. */
export const RECOVERY_CODE_GROUP = 6;
export const RECOVERY_CODE_COUNT = 10;
export const RECOVERY_CODE_BITS = RECOVERY_CODE_SYMBOLS * Math.log2(ALPHABET.length);
const MAX_INPUT_LENGTH = 64;
export const MIN_PEPPER_BYTES = 32;

/** One fresh code, formatted `xxxxxx-xxxxxx-xxxxxx-xxxxxx`. */
export function generateRecoveryCode(): string {
  let raw = '';
  for (let i = 0; i < RECOVERY_CODE_SYMBOLS; i += 1) raw += ALPHABET[randomInt(ALPHABET.length)];
  return formatRecoveryCode(raw);
}

/** Groups a normalised code in sixes with dashes. */
export function formatRecoveryCode(normalised: string): string {
  return normalised.match(new RegExp(`.{1,${RECOVERY_CODE_GROUP}}`, 'g'))?.join('-') ?? '';
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
