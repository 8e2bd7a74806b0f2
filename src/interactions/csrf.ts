import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../shared/errors.ts';

/**
 * Synchronizer tokens for the interaction forms (OWASP CSRF cheat sheet, "signed double-submit" variant):
 * the token is an HMAC of the interaction uid — which is also the value of the `_interaction` cookie the POST
 * must carry — under a server secret derived from the cookie keys. A cross-site page can neither read the form
 * nor compute the HMAC. Rotated cookie keys (all but the first) are still accepted.
 */
export interface CsrfTokens {
  tokenFor(interactionUid: string): string;
  /** Throws AppError `csrf_token_invalid` (403) unless `token` is a string matching the interaction. */
  verify(interactionUid: string, token: unknown): void;
}

function sign(key: string, interactionUid: string): Buffer {
  const secret = createHmac('sha256', key).update('oidc-stepup interaction csrf v1').digest();
  return createHmac('sha256', secret).update(interactionUid).digest();
}

export function createCsrfTokens(cookieKeys: readonly string[]): CsrfTokens {
  if (cookieKeys.length === 0 || !cookieKeys[0]) throw new Error('CSRF tokens need at least one cookie key');
  const signingKey = cookieKeys[0];
  return {
    tokenFor(interactionUid) {
      return sign(signingKey, interactionUid).toString('base64url');
    },
    verify(interactionUid, token) {
      const given = typeof token === 'string' && token.length <= 128 ? Buffer.from(token, 'base64url') : Buffer.alloc(0);
      const ok = cookieKeys.some((key) => {
        const expected = sign(key, interactionUid);
        return given.length === expected.length && timingSafeEqual(given, expected);
      });
      if (!ok) {
        throw new AppError(
          'csrf_token_invalid',
          'This form could not be accepted because it did not come from our sign-in page. Go back to the shop and start the sign-in again.',
          { status: 403 },
        );
      }
    },
  };
}
