import { expect } from 'chai';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { ACR_VALUES } from '../../src/policy/acr.ts';
import { createClient } from '../../src/provider/clients.ts';
import { Browser, Shop, signIn, useShop } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

const PWD_ACR = 'urn:oidc-stepup:acr:pwd';

describe('authorization code flow with PKCE and password login', function () {
  const server = useTestServer('code_flow');
  const shop = useShop(server);

  function newBrowser(): Browser {
    return new Browser(['http://localhost:7777/']);
  }

  it('discovery lists the acr levels, S256 only, and the endpoints a shop needs', async function () {
    const metadata = shop.config.serverMetadata();
    expect(metadata.issuer).to.equal(server.issuer);
    expect(metadata.acr_values_supported).to.deep.equal([...ACR_VALUES]);
    expect(metadata.acr_values_supported).to.include.members([PWD_ACR, 'urn:oidc-stepup:acr:mfa', 'urn:oidc-stepup:acr:mfa-app']);
    expect(metadata.code_challenge_methods_supported).to.deep.equal(['S256']);
    expect(metadata.response_types_supported).to.deep.equal(['code']);
    expect(metadata.scopes_supported).to.include.members(['openid', 'email', 'profile', 'offline_access', 'invoice']);
    expect(metadata.claims_supported).to.include.members(['acr', 'amr', 'auth_time']);
    for (const endpoint of ['token_endpoint', 'userinfo_endpoint', 'revocation_endpoint', 'introspection_endpoint', 'end_session_endpoint', 'jwks_uri'] as const) {
      expect(metadata[endpoint], endpoint).to.be.a('string').and.satisfy((url: string) => url.startsWith(server.issuer));
    }
  });

  it('a first-party shop signs a customer in without a consent page; the ID token carries acr, amr, auth_time', async function () {
    const before = Math.floor(Date.now() / 1000);
    const { pending, callbackUrl, sawConsent } = await signIn(shop, newBrowser(), server.accounts.alice);
    expect(sawConsent).to.equal(false);
    expect(callbackUrl.startsWith(server.clients.firstParty.redirectUri)).to.equal(true);

    const tokens = await shop.finishLogin(pending, callbackUrl);
    const claims = tokens.claims();
    expect(claims?.sub).to.equal(server.accounts.alice.id);
    expect(claims?.acr).to.equal(PWD_ACR);
    expect(claims?.amr).to.deep.equal(['pwd']);
    expect(claims?.auth_time).to.be.a('number').within(before - 1, Math.floor(Date.now() / 1000) + 1);

    // independently of openid-client: the signature verifies against the published JWKS
    const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
    const { payload } = await jwtVerify(tokens.id_token as string, jwks, { issuer: server.issuer, audience: server.clients.firstParty.clientId });
    expect(payload.acr).to.equal(PWD_ACR);
    expect(payload.amr).to.deep.equal(['pwd']);
    expect(payload.auth_time).to.equal(claims?.auth_time);
  });

  it('userinfo answers the granted claims for the access token', async function () {
    const { pending, callbackUrl } = await signIn(shop, newBrowser(), server.accounts.alice);
    const tokens = await shop.finishLogin(pending, callbackUrl);
    const userinfo = await oidc.fetchUserInfo(shop.config, tokens.access_token, server.accounts.alice.id);
    expect(userinfo).to.include({ sub: server.accounts.alice.id, email: 'alice@example.com', name: 'Alice Example', email_verified: false });
  });

  it('an authorization code cannot be exchanged twice', async function () {
    const { pending, callbackUrl } = await signIn(shop, newBrowser(), server.accounts.bob);
    await shop.finishLogin(pending, callbackUrl);
    try {
      await shop.finishLogin(pending, callbackUrl);
      expect.fail('the second exchange succeeded');
    } catch (err) {
      expect((err as { error?: string }).error).to.equal('invalid_grant');
    }
  });

  it('refuses an authorization request without PKCE, even from a confidential shop', async function () {
    const url = new URL(`${server.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: server.clients.firstParty.clientId,
      redirect_uri: server.clients.firstParty.redirectUri,
      response_type: 'code',
      scope: 'openid',
      state: 'xyz',
    }).toString();
    const page = await newBrowser().go(url.href);
    const callback = new URL(page.url);
    expect(callback.origin + callback.pathname).to.equal(server.clients.firstParty.redirectUri);
    expect(callback.searchParams.get('error')).to.equal('invalid_request');
    expect(callback.searchParams.get('error_description')).to.match(/PKCE/);
  });

  it('offline_access gives a refresh token that refreshes, keeps acr/amr, and is dead after revocation', async function () {
    const { pending, callbackUrl } = await signIn(shop, newBrowser(), server.accounts.alice, {
      params: { scope: 'openid email offline_access', prompt: 'consent' },
    });
    const tokens = await shop.finishLogin(pending, callbackUrl);
    expect(tokens.refresh_token).to.be.a('string');

    const refreshed = await oidc.refreshTokenGrant(shop.config, tokens.refresh_token as string);
    expect(refreshed.access_token).to.be.a('string').and.not.equal(tokens.access_token);
    expect(refreshed.claims()?.acr).to.equal(PWD_ACR);
    expect(refreshed.claims()?.amr).to.deep.equal(['pwd']);

    const current = refreshed.refresh_token ?? (tokens.refresh_token as string);
    await oidc.tokenRevocation(shop.config, current);
    try {
      await oidc.refreshTokenGrant(shop.config, current);
      expect.fail('a revoked refresh token still worked');
    } catch (err) {
      expect((err as { error?: string }).error).to.equal('invalid_grant');
    }
  });

  it('without offline_access there is no refresh token', async function () {
    const { pending, callbackUrl } = await signIn(shop, newBrowser(), server.accounts.alice);
    const tokens = await shop.finishLogin(pending, callbackUrl);
    expect(tokens.refresh_token).to.equal(undefined);
  });

  it('introspection shows an active token with acr/amr/auth_time, and inactive after revocation', async function () {
    const { pending, callbackUrl } = await signIn(shop, newBrowser(), server.accounts.bob);
    const tokens = await shop.finishLogin(pending, callbackUrl);
    const active = await oidc.tokenIntrospection(shop.config, tokens.access_token);
    expect(active).to.include({ active: true, sub: server.accounts.bob.id, client_id: server.clients.firstParty.clientId, acr: PWD_ACR });
    expect(active.amr).to.deep.equal(['pwd']);
    expect(active.auth_time).to.be.a('number');

    await oidc.tokenRevocation(shop.config, tokens.access_token);
    const revoked = await oidc.tokenIntrospection(shop.config, tokens.access_token);
    expect(revoked.active).to.equal(false);
    try {
      await oidc.fetchUserInfo(shop.config, tokens.access_token, server.accounts.bob.id);
      expect.fail('userinfo accepted a revoked access token');
    } catch (err) {
      expect((err as { status?: number }).status ?? (err as { cause?: { status?: number } }).cause?.status).to.equal(401);
    }
  });

  it('another shop learns nothing from introspecting a token that is not its own', async function () {
    const { pending, callbackUrl } = await signIn(shop, newBrowser(), server.accounts.bob);
    const tokens = await shop.finishLogin(pending, callbackUrl);
    const partner = await Shop.discover(server.issuer, server.clients.thirdParty);
    const answer = await oidc.tokenIntrospection(partner.config, tokens.access_token);
    expect(answer).to.deep.equal({ active: false });
  });

  it('a JWT access token for a configured API carries acr, amr and auth_time (RFC 9470)', async function () {
    const { pending, callbackUrl } = await signIn(shop, newBrowser(), server.accounts.alice, {
      params: { scope: 'openid orders:read', resource: server.api.resource },
    });
    const tokens = await shop.finishLogin(pending, callbackUrl, { resource: server.api.resource });
    const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, {
      issuer: server.issuer,
      audience: server.api.resource,
      typ: 'at+jwt',
    });
    expect(protectedHeader.typ).to.equal('at+jwt');
    expect(payload.sub).to.equal(server.accounts.alice.id);
    expect(payload.scope).to.equal('orders:read');
    expect(payload.acr).to.equal(PWD_ACR);
    expect(payload.amr).to.deep.equal(['pwd']);
    expect(payload.auth_time).to.equal(tokens.claims()?.auth_time);
  });

  it('an unknown API (resource) is refused with invalid_target', async function () {
    const pending = await shop.startLogin({ resource: 'https://unknown-api.example' });
    const page = await newBrowser().go(pending.url.href);
    expect(new URL(page.url).searchParams.get('error')).to.equal('invalid_target');
  });

  it('client credentials give an opted-in shop a JWT for its API, without any user claims', async function () {
    const saved = await createClient(server.conn, {
      clientId: 'api-caller',
      redirectUris: ['http://localhost:7777/api-caller/callback'],
      clientCredentials: true,
    });
    const caller = await Shop.discover(server.issuer, {
      clientId: saved.clientId,
      clientSecret: saved.clientSecret as string,
      redirectUri: saved.redirectUris[0] as string,
      postLogoutRedirectUri: 'http://localhost:7777/api-caller/signed-out',
    });
    const tokens = await oidc.clientCredentialsGrant(caller.config, { scope: 'orders:read', resource: server.api.resource });
    const claims = decodeJwt(tokens.access_token);
    expect(claims.aud).to.equal(server.api.resource);
    expect(claims.client_id).to.equal('api-caller');
    expect(claims.scope).to.equal('orders:read');
    expect(claims).to.not.have.property('sub', server.accounts.alice.id);
    expect(claims).to.not.have.property('acr');
  });
});
