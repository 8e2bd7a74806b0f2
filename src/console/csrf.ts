import { createFormTokens, type FormTokens } from '../http/form_tokens.ts';

/**
 * CSRF tokens of the console forms: bound to the console session id, which the signed session cookie points at
 * (see `http/form_tokens.ts`); the token changes when the session rotates.
 */
export type ConsoleCsrf = FormTokens;

export function createConsoleCsrf(cookieKeys: readonly (string | Buffer)[]): ConsoleCsrf {
  return createFormTokens(cookieKeys, {
    purpose: 'oidc-stepup account console csrf v1',
    refusal: 'console.error.csrf_token_invalid',
  });
}
