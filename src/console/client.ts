/**
 * The account console's own OIDC client (`account-console`, like Keycloak's account console): a first-party,
 * confidential client registered statically in the provider configuration. Its secret is derived from the cookie
 * keys (HMAC), so every instance sharing the keys agrees on it without storing it anywhere. Confidential rather than
 * public: the console runs on the server, and a code issued to it is only redeemable with that secret (besides PKCE),
 * so no other party can redeem a console code even if it saw one.
 *
 * Leaf module: the provider configuration imports it, it imports nothing from the provider.
 */
import { createHmac } from 'node:crypto';

/** The console's client id (no `.`: client ids become keys in session documents). */
export const ACCOUNT_CONSOLE_CLIENT_ID = 'account-console';

/** Where the console lives. */
export const ACCOUNT_PATH = '/account';

/** The scopes the console asks for. */
export const ACCOUNT_CONSOLE_SCOPE = 'openid email profile';

/** The console's client secret: an HMAC of a fixed label under the first cookie key (43 base64url characters). */
export function accountConsoleClientSecret(cookieKeys: readonly (string | Buffer)[]): string {
  const key = cookieKeys[0];
  if (!key || key.length === 0) throw new Error('the account console needs a cookie key to derive its client secret');
  return createHmac('sha256', key).update('oidc-stepup account-console client secret v1').digest('base64url');
}

/** `<issuer>/account/callback` and `<issuer>/account` for `issuer` (a trailing slash is ignored). */
export function accountConsoleUris(issuer: string): { redirectUri: string; postLogoutRedirectUri: string } {
  const base = `${issuer.replace(/\/+$/, '')}${ACCOUNT_PATH}`;
  return { redirectUri: `${base}/callback`, postLogoutRedirectUri: base };
}

/**
 * The static client metadata (oidc-provider `clients: [...]`). Its name is given in every language of `names`
 * (`client_name#de`, OpenID Connect Dynamic Client Registration 1.0 §2.1), so the sign-in pages name the console in the
 * customer's language; `client_name` is the first. `first_party: true` skips the consent page, as for
 * the provider's own pages. Its authorization requests are pushed (RFC 9126) and only pushed ones are accepted: the
 * browser carries a `request_uri` and cannot edit what the console asked for (`max_age=0`, the level).
 */
export function accountConsoleClient(
  issuer: string, cookieKeys: readonly (string | Buffer)[], names: Readonly<Record<string, string>> = { en: 'Security settings' },
): Record<string, unknown> & { client_id: string } {
  const { redirectUri, postLogoutRedirectUri } = accountConsoleUris(issuer);
  return {
    client_id: ACCOUNT_CONSOLE_CLIENT_ID,
    client_secret: accountConsoleClientSecret(cookieKeys),
    client_name: Object.values(names)[0] ?? 'Security settings',
    ...Object.fromEntries(Object.entries(names).map(([language, name]) => [`client_name#${language}`, name])),
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [postLogoutRedirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: ACCOUNT_CONSOLE_SCOPE,
    first_party: true,
    require_pushed_authorization_requests: true,
  };
}
