/**
 * The shop's side of OpenID Connect, on openid-client 6: discovery, the authorization requests (code flow, PKCE S256,
 * state, nonce), the callback, the refresh token and userinfo, sign-out. Every answer the provider sends back is
 * checked by openid-client (state, `iss` of RFC 9207, the ID token's signature, nonce, audience).
 */
import * as oidc from 'openid-client';
import type { PendingAuthorization } from './sessions.ts';

/** A fetch for the calls from the shop's server to the provider (never the browser's). */
export type BackChannelFetch = (url: string, init?: RequestInit) => Promise<Response>;

/**
 * Where the provider's public address (the issuer) is not reachable from the shop's server — a container whose
 * `localhost` is itself — its back-channel calls go to `internalUrl` instead, telling the provider (which trusts its
 * proxy headers, `TRUST_PROXY=true`) the public host, so discovery and tokens still name the public issuer.
 */
export function backChannelFetch(issuer: string, internalUrl: string | undefined): BackChannelFetch {
  if (!internalUrl) return (url, init) => fetch(url, init);
  const publicUrl = new URL(issuer);
  const internal = new URL(internalUrl);
  return (url, init) => {
    const target = new URL(url);
    if (target.origin !== publicUrl.origin) return fetch(url, init);
    target.protocol = internal.protocol;
    target.host = internal.host;
    const headers = new Headers(init?.headers);
    headers.set('x-forwarded-host', publicUrl.host);
    headers.set('x-forwarded-proto', publicUrl.protocol.replace(/:$/, ''));
    return fetch(target, { ...init, headers });
  };
}

export interface ProviderClientOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** `${shopUrl}/callback`, registered with the client. */
  redirectUri: string;
  /** Where the provider sends the customer after signing out, registered with the client. */
  postLogoutRedirectUri: string;
  fetch: BackChannelFetch;
}

export type Tokens = oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;

export interface ProviderClient {
  /** An authorization request: the URL to send the browser to, and what to check its answer against. */
  authorize(purpose: PendingAuthorization['purpose'], params: Record<string, string>, extra?: Pick<PendingAuthorization, 'returnTo' | 'orderId'>):
    Promise<{ url: URL; pending: PendingAuthorization }>;
  /** The code exchange at the callback; throws `AuthorizationResponseError` for an error answer (`access_denied`, …). */
  finish(callbackUrl: URL, pending: PendingAuthorization, tokenParams?: Record<string, string>): Promise<Tokens>;
  refresh(refreshToken: string): Promise<Tokens>;
  userinfo(accessToken: string, sub: string): Promise<oidc.UserInfoResponse>;
  endSessionUrl(idToken: string): Promise<URL>;
}

export function createProviderClient(options: ProviderClientOptions): ProviderClient {
  let configuration: Promise<oidc.Configuration> | undefined;
  const configured = (): Promise<oidc.Configuration> => {
    configuration ??= oidc.discovery(new URL(options.issuer), options.clientId, undefined, oidc.ClientSecretBasic(options.clientSecret), {
      [oidc.customFetch]: options.fetch as oidc.CustomFetch,
      // Development against http://localhost only; a production provider is https.
      ...(options.issuer.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : {}),
    }).catch((err: unknown) => {
      configuration = undefined; // try again at the next request
      throw err;
    });
    return configuration;
  };

  return {
    async authorize(purpose, params, extra = {}) {
      const config = await configured();
      const pending: PendingAuthorization = {
        purpose, state: oidc.randomState(), nonce: oidc.randomNonce(), codeVerifier: oidc.randomPKCECodeVerifier(), startedAt: Date.now(), ...extra,
      };
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: options.redirectUri,
        code_challenge: await oidc.calculatePKCECodeChallenge(pending.codeVerifier),
        code_challenge_method: 'S256',
        state: pending.state,
        nonce: pending.nonce,
        ...params,
      });
      return { url, pending };
    },
    async finish(callbackUrl, pending, tokenParams = {}) {
      return oidc.authorizationCodeGrant(await configured(), callbackUrl, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      }, tokenParams);
    },
    async refresh(refreshToken) {
      return oidc.refreshTokenGrant(await configured(), refreshToken);
    },
    async userinfo(accessToken, sub) {
      return oidc.fetchUserInfo(await configured(), accessToken, sub);
    },
    async endSessionUrl(idToken) {
      return oidc.buildEndSessionUrl(await configured(), { id_token_hint: idToken, post_logout_redirect_uri: options.postLogoutRedirectUri });
    },
  };
}
