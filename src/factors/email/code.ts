/**
 * Email-code primitives: 6 random digits (`crypto.randomInt`, uniform: ~20 bits, enough with 5 tries per code and a
 * handful of codes per hour — NIST SP 800-63B §5.1.3.2 asks ≥ 20 bits of entropy for out-of-band secrets), the
 * stored form (a keyed hash), and the masked address shown on pages.
 *
 * Stored as HMAC-SHA256(pepper, accountId ‖ codeId ‖ code). A slow hash would not help: a 6-digit space falls to
 * any hash in seconds. What protects a database dump is the pepper (from config, never in the database); the code
 * id binds each hash to one sent code, so equal codes of two sends never share a hash.
 */
import { createHmac, randomInt } from 'node:crypto';
import { constantTimeEqual } from '../../shared/crypto.ts';

export const EMAIL_CODE_DIGITS = 6;
export const MIN_EMAIL_PEPPER_BYTES = 32;
const MAX_INPUT_LENGTH = 64;

/** A fresh code, zero-padded: `'004217'`. */
export function generateEmailCode(): string {
  return String(randomInt(10 ** EMAIL_CODE_DIGITS)).padStart(EMAIL_CODE_DIGITS, '0');
}

/**
 * The code in a form field, or `undefined` when it cannot be one: not a string, too long, or not exactly six ASCII
 * digits once spaces and dashes are removed (mail clients may show "123 456").
 */
export function normaliseEmailCode(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return undefined;
  const code = input.replace(/[\s-]+/g, '');
  return code.length === EMAIL_CODE_DIGITS && /^[0-9]+$/.test(code) ? code : undefined;
}

/** The stored form of a normalised code (hex). */
export function hashEmailCode(pepper: Buffer, accountId: string, codeId: string, code: string): string {
  return createHmac('sha256', pepper)
    .update(accountId, 'utf8').update('\0')
    .update(codeId, 'utf8').update('\0')
    .update(code, 'utf8')
    .digest('hex');
}

/** Constant-time comparison of two hex hashes of equal length. */
export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length > 0 && constantTimeEqual(left, right);
}

