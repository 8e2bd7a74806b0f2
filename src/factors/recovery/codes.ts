/**
 * Recovery codes (NIST SP 800-63B §5.1.2 "look-up secrets"): 12 symbols of Crockford's base32 (no I, L, O, U: easy
 * to read aloud and to type), shown in three groups of four, `xxxx-xxxx-xxxx`.
 *
 * Why this length: §5.1.2.1 asks at least 20 bits of entropy of a look-up secret when its verifier limits attempts,
 * which ours does (10 consecutive failures per account for the codes, `factor.ts`). The first two symbols are a
 * *locator* (10 bits, unique within the account's set, not secret: it only says which stored code to check); the
 * other ten are the secret, 50 bits. §5.1.2.2 asks secrets under 112 bits to be salted and hashed with a password
 * hashing scheme: each secret is stored as Argon2id (OWASP's setting, a random salt each, the server's pepper as
 * Argon2's secret input), so a database dump alone offers nothing to search, and a verification is one Argon2id check
 * (the locator finds the one candidate).
 *
 * Sets made before this format (24 symbols, 120 bits, stored as HMAC-SHA256(pepper, account ‖ code): a keyed hash is
 * enough at 112 bits and more) keep working until they are used up or replaced.
 */
import { createHmac, randomInt } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';

/** Crockford's base32 alphabet. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const RECOVERY_CODE_SYMBOLS = 12;
/** Symbols per group in the shown form. */
export const RECOVERY_CODE_GROUP = 4;
/** The leading symbols that say which stored code to check (not secret). */
export const RECOVERY_CODE_LOCATOR_SYMBOLS = 2;
export const RECOVERY_CODE_COUNT = 10;
/** Entropy of a code's secret part. */
export const RECOVERY_CODE_SECRET_BITS = (RECOVERY_CODE_SYMBOLS - RECOVERY_CODE_LOCATOR_SYMBOLS) * Math.log2(ALPHABET.length);
/** Symbols of the codes of earlier sets (120 bits, keyed hash). */
export const LEGACY_RECOVERY_CODE_SYMBOLS = 24;
const MAX_INPUT_LENGTH = 64;
export const MIN_PEPPER_BYTES = 32;

/** Argon2id at OWASP's first setting (m=19 MiB, t=2, p=1), the pepper as its secret input. */
const ARGON2 = { algorithm: 2, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;

/** One fresh code, formatted `xxxx-xxxx-xxxx`. */
export function generateRecoveryCode(): string {
  let raw = '';
  for (let i = 0; i < RECOVERY_CODE_SYMBOLS; i += 1) raw += ALPHABET[randomInt(ALPHABET.length)];
  return formatRecoveryCode(raw);
}

/** Groups a normalised code with dashes (fours; sixes for a code of an earlier set). */
export function formatRecoveryCode(normalised: string): string {
  const group = normalised.length === LEGACY_RECOVERY_CODE_SYMBOLS ? 6 : RECOVERY_CODE_GROUP;
  return normalised.match(new RegExp(`.{1,${group}}`, 'g'))?.join('-') ?? '';
}

/**
 * The canonical form of user input, or `undefined` when it cannot be a code: case-insensitive, spaces, dashes and
 * underscores ignored, and the look-alikes Crockford's base32 defines mapped (`o` → `0`, `i`/`l` → `1`). Codes of
 * earlier sets (24 symbols) are accepted too.
 */
export function normaliseRecoveryCode(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return undefined;
  const cleaned = input.toLowerCase().replace(/[\s_-]+/g, '').replace(/o/g, '0').replace(/[il]/g, '1');
  if (cleaned.length !== RECOVERY_CODE_SYMBOLS && cleaned.length !== LEGACY_RECOVERY_CODE_SYMBOLS) return undefined;
  for (const char of cleaned) if (!ALPHABET.includes(char)) return undefined;
  return cleaned;
}

/** Whether a normalised code is of an earlier set (stored as a keyed hash). */
export function isLegacyRecoveryCode(normalised: string): boolean {
  return normalised.length === LEGACY_RECOVERY_CODE_SYMBOLS;
}

/** The locator of a normalised (current-format) code. */
export function recoveryCodeLocator(normalised: string): string {
  return normalised.slice(0, RECOVERY_CODE_LOCATOR_SYMBOLS);
}

/** The stored form of a code's secret part: Argon2id, salted, peppered (PHC string). */
export async function hashRecoverySecret(pepper: Buffer, normalised: string): Promise<string> {
  return argon2Hash(normalised.slice(RECOVERY_CODE_LOCATOR_SYMBOLS), { ...ARGON2, secret: pepper });
}

/** Whether `normalised`'s secret part is the one `stored` was made from. */
export async function verifyRecoverySecret(pepper: Buffer, stored: string, normalised: string): Promise<boolean> {
  try {
    return await argon2Verify(stored, normalised.slice(RECOVERY_CODE_LOCATOR_SYMBOLS), { secret: pepper });
  } catch {
    return false;
  }
}

/** The stored form of a code of an earlier set (hex). */
export function hashRecoveryCode(pepper: Buffer, accountId: string, normalised: string): string {
  return createHmac('sha256', pepper).update(accountId, 'utf8').update('\0').update(normalised, 'utf8').digest('hex');
}
