import { createFormTokens, type FormTokens } from '../http/form_tokens.ts';

/**
 * CSRF tokens of the interaction forms: bound to the interaction uid, which is also the value of the `_interaction`
 * cookie the POST must carry (see `http/form_tokens.ts`).
 */
export type CsrfTokens = FormTokens;

export function createCsrfTokens(cookieKeys: readonly string[]): CsrfTokens {
  return createFormTokens(cookieKeys, {
    purpose: 'oidc-stepup interaction csrf v1',
    refusal: 'This form could not be accepted because it did not come from our sign-in page. Go back to the shop and start the sign-in again.',
  });
}
