/**
 * Synchronizer tokens for server-rendered forms (OWASP CSRF cheat sheet, "signed double-submit" variant): a token is
 * an HMAC of a value the POST's own cookie carries (an interaction uid, a console session id) under a secret derived
 * from the cookie keys and the form family's `purpose`. A cross-site page can neither read a form nor compute the
 * token, and a token of one family never verifies in another. Rotated cookie keys (all but the first) still verify.
 */
import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '../shared/crypto.ts';
import { AppError } from '../shared/errors.ts';

export interface FormTokens {
  tokenFor(boundTo: string): string;
  /** Throws an AppError (403, code `csrf_token_invalid` unless the family names its own) unless `token` is a string matching `boundTo`. */
  verify(boundTo: string, token: unknown): void;
}

export interface FormTokenOptions {
  /** The form family, mixed into the secret (`'oidc-stepup interaction csrf v1'`). */
  readonly purpose: string;
  /** What the refusal says (what to do next), in English: the API's `error_description` and the logs. */
  readonly refusal: string;
  /**
   * The refusal's code (default `csrf_token_invalid`); a family whose refusal says something else than the sign-in's
   * names its own, so the error page finds its words in the catalogue (`errors.<code>.message`).
   */
  readonly code?: string;
}

/** Longest token accepted (a base64url HMAC-SHA256 is 43 characters). */
const MAX_TOKEN_LENGTH = 128;

export function createFormTokens(cookieKeys: readonly (string | Buffer)[], options: FormTokenOptions): FormTokens {
  const signingKey = cookieKeys[0];
  if (!signingKey || signingKey.length === 0) throw new Error('form tokens need at least one cookie key');
  const sign = (key: string | Buffer, boundTo: string): Buffer => {
    const secret = createHmac('sha256', key).update(options.purpose).digest();
    return createHmac('sha256', secret).update(boundTo).digest();
  };
  return Object.freeze({
    tokenFor(boundTo: string): string {
      return sign(signingKey, boundTo).toString('base64url');
    },
    verify(boundTo: string, token: unknown): void {
      const given = typeof token === 'string' && token.length <= MAX_TOKEN_LENGTH ? Buffer.from(token, 'base64url') : Buffer.alloc(0);
      const ok = cookieKeys.some((key) => {
        const expected = sign(key, boundTo);
        return constantTimeEqual(given, expected);
      });
      if (!ok) throw new AppError(options.code ?? 'csrf_token_invalid', options.refusal, { status: 403 });
    },
  });
}
