/**
 * CSRF tokens of the console forms (the pattern of `interactions/csrf.ts`, OWASP "signed double-submit"): an HMAC
 * of the console session id — what the signed session cookie points at — under a secret derived from the cookie keys.
 * A cross-site page can neither read a form nor compute the token; the token changes when the session rotates.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../shared/errors.ts';

export interface ConsoleCsrf {
  tokenFor(sessionId: string): string;
  /** Throws AppError `csrf_token_invalid` (403) unless `token` belongs to the session. */
  verify(sessionId: string, token: unknown): void;
}

function sign(key: string | Buffer, sessionId: string): Buffer {
  const secret = createHmac('sha256', key).update('oidc-stepup account console csrf v1').digest();
  return createHmac('sha256', secret).update(sessionId).digest();
}

export function createConsoleCsrf(cookieKeys: readonly (string | Buffer)[]): ConsoleCsrf {
  const signingKey = cookieKeys[0];
  if (!signingKey || signingKey.length === 0) throw new Error('console CSRF tokens need at least one cookie key');
  return {
    tokenFor(sessionId) {
      return sign(signingKey, sessionId).toString('base64url');
    },
    verify(sessionId, token) {
      const given = typeof token === 'string' && token.length <= 128 ? Buffer.from(token, 'base64url') : Buffer.alloc(0);
      // Rotated cookie keys (all but the first) are still accepted.
      const ok = cookieKeys.some((key) => {
        const expected = sign(key, sessionId);
        return given.length === expected.length && timingSafeEqual(given, expected);
      });
      if (!ok) {
        throw new AppError(
          'csrf_token_invalid',
          'This form could not be accepted because it did not come from your security settings page. Open the page again and retry.',
          { status: 403 },
        );
      }
    },
  };
}
