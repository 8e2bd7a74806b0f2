/**
 * The console as a relying party of this very provider: the authorization request (code + PKCE S256, state, nonce;
 * `max_age=0` and the level of the account's strongest factor for a re-authentication), pushed to the provider's PAR
 * endpoint (RFC 9126) so the browser only carries a `request_uri` it cannot edit, and the code exchange at the token
 * endpoint over HTTP — the same path as any shop, so every check of oidc-provider applies (client authentication,
 * PKCE, redirect URI, single-use code). The ID token is verified in process with the provider's own
 * key store (`IdToken.validate`: signature, `iss`, `aud`), then `exp`, `nonce`, `sub`, `auth_time` here
 * (OIDC Core §3.1.3.7).
 */
import { createHash, randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import { acrForLevel, LEVEL } from '../policy/acr.ts';
import { AppError } from '../shared/errors.ts';
import { ACCOUNT_CONSOLE_CLIENT_ID, ACCOUNT_CONSOLE_SCOPE, accountConsoleClientSecret, accountConsoleUris } from './client.ts';
import type { PendingLogin } from './session.ts';

/** What the console needs to talk to the provider. */
export interface ConsoleOidc {
  readonly issuer: string;
  readonly provider: Provider;
  /** Default `<issuer>/token`; the pushed authorization requests go to `request` beside it. */
  readonly tokenEndpoint?: string | undefined;
}

/** The verified facts of the console's ID token. */
export interface ConsoleIdToken {
  readonly sub: string;
  readonly acr: string;
  readonly amr: readonly string[];
  readonly authTime: Date;
  readonly raw: string;
}

const CLOCK_TOLERANCE_SECONDS = 15;
const TOKEN_TIMEOUT_MS = 10_000;

function random(): string {
  return randomBytes(32).toString('base64url');
}

/** A fresh pending sign-in (state, nonce, PKCE verifier); a re-authentication asks for `level`. */
export function newLogin(purpose: PendingLogin['purpose'], returnTo: string, level?: number): PendingLogin {
  return {
    state: random(), nonce: random(), codeVerifier: random(), purpose, returnTo, createdAt: new Date(Date.now()),
    ...(purpose === 'reauth' ? { level: level ?? LEVEL.pwd } : {}),
  };
}

/** The parameters of `login`'s authorization request. */
export function authorizationParams(login: PendingLogin, options: { issuer: string; loginHint?: string | undefined }): URLSearchParams {
  const { redirectUri } = accountConsoleUris(options.issuer);
  const params = new URLSearchParams({
    client_id: ACCOUNT_CONSOLE_CLIENT_ID,
    response_type: 'code',
    scope: ACCOUNT_CONSOLE_SCOPE,
    redirect_uri: redirectUri,
    state: login.state,
    nonce: login.nonce,
    code_challenge: createHash('sha256').update(login.codeVerifier).digest('base64url'),
    code_challenge_method: 'S256',
  });
  if (login.purpose === 'reauth') {
    // OIDC Core §3.1.2.1: max_age=0 makes the provider ask again for every method the level needs (the password, and
    // the second factor for level 2 or 3) in this very interaction.
    params.set('max_age', '0');
    if ((login.level ?? LEVEL.pwd) >= LEVEL.mfa) params.set('acr_values', acrForLevel(login.level as number));
  }
  if (options.loginHint) params.set('login_hint', options.loginHint);
  return params;
}

function clientAuthorization(oidc: ConsoleOidc): string {
  const secret = accountConsoleClientSecret(oidc.provider.keys as readonly (string | Buffer)[]);
  return `Basic ${Buffer.from(`${formEncode(ACCOUNT_CONSOLE_CLIENT_ID)}:${formEncode(secret)}`).toString('base64')}`;
}

function tokenEndpointOf(oidc: ConsoleOidc): string {
  return oidc.tokenEndpoint ?? `${oidc.issuer.replace(/\/+$/, '')}/token`;
}

/**
 * Pushes `login`'s authorization request (RFC 9126) and returns the `/auth` URL (path and query, same origin) the
 * browser follows: `client_id` and `request_uri` only. Throws AppError `sign_in_failed` (400) when the provider refuses.
 */
export async function pushAuthorizationRequest(oidc: ConsoleOidc, login: PendingLogin, options: { loginHint?: string | undefined } = {}): Promise<string> {
  let body: { request_uri?: unknown; error?: unknown };
  try {
    const response = await fetch(new URL('request', tokenEndpointOf(oidc)), {
      method: 'POST',
      headers: { authorization: clientAuthorization(oidc), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: authorizationParams(login, { issuer: oidc.issuer, loginHint: options.loginHint }),
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
    });
    body = await response.json() as typeof body;
    if (!response.ok) throw new Error(`PAR endpoint answered ${response.status}: ${String(body.error)}`);
  } catch (err) {
    throw exchangeFailed(err);
  }
  if (typeof body.request_uri !== 'string') throw exchangeFailed(new Error('no request_uri in the PAR response'));
  return `/auth?${new URLSearchParams({ client_id: ACCOUNT_CONSOLE_CLIENT_ID, request_uri: body.request_uri }).toString()}`;
}

function exchangeFailed(cause?: unknown): AppError {
  return new AppError(
    'sign_in_failed',
    'console.error.sign_in_exchange_failed',
    { status: 400, cause },
  );
}

function formEncode(value: string): string {
  // RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
  return encodeURIComponent(value).replace(/%20/g, '+');
}

/** Redeems `code` at the token endpoint and returns the verified ID token. Throws AppError `sign_in_failed` (400). */
export async function redeemCode(oidc: ConsoleOidc, code: string, login: PendingLogin): Promise<ConsoleIdToken> {
  const issuer = oidc.issuer.replace(/\/+$/, '');
  let body: { id_token?: unknown };
  try {
    const response = await fetch(tokenEndpointOf(oidc), {
      method: 'POST',
      headers: { authorization: clientAuthorization(oidc), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: accountConsoleUris(issuer).redirectUri,
        code_verifier: login.codeVerifier,
      }),
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
    });
    body = await response.json() as { id_token?: unknown };
    if (!response.ok) throw new Error(`token endpoint answered ${response.status}: ${String((body as { error?: unknown }).error)}`);
  } catch (err) {
    throw exchangeFailed(err);
  }
  if (typeof body.id_token !== 'string') throw exchangeFailed(new Error('no id_token in the token response'));
  return verifyIdToken(oidc.provider, body.id_token, login.nonce);
}

/** Verifies a console ID token: signature, `iss` and `aud` by oidc-provider, the rest here. */
export async function verifyIdToken(provider: Provider, idToken: string, nonce: string): Promise<ConsoleIdToken> {
  const client = await provider.Client.find(ACCOUNT_CONSOLE_CLIENT_ID);
  if (!client) throw new Error(`the ${ACCOUNT_CONSOLE_CLIENT_ID} client is not registered in the provider configuration`);
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await provider.IdToken.validate(idToken, client) as { payload: Record<string, unknown> });
  } catch (err) {
    throw exchangeFailed(err);
  }
  const now = Math.floor(Date.now() / 1000);
  const { sub, acr, amr, auth_time: authTime, exp } = payload;
  const problems: string[] = [];
  if (typeof exp !== 'number' || exp + CLOCK_TOLERANCE_SECONDS < now) problems.push('expired');
  if (payload.nonce !== nonce) problems.push('nonce mismatch');
  if (typeof sub !== 'string' || sub.length === 0) problems.push('no sub');
  if (typeof acr !== 'string') problems.push('no acr');
  if (typeof authTime !== 'number' || authTime > now + CLOCK_TOLERANCE_SECONDS) problems.push('bad auth_time');
  if (amr !== undefined && !(Array.isArray(amr) && amr.every((value) => typeof value === 'string'))) problems.push('bad amr');
  if (problems.length > 0) throw exchangeFailed(new Error(`invalid ID token: ${problems.join(', ')}`));
  return {
    sub: sub as string,
    acr: acr as string,
    amr: (amr as string[] | undefined) ?? [],
    authTime: new Date((authTime as number) * 1000),
    raw: idToken,
  };
}
