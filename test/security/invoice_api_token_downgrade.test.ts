/**
 * Threat: booking an invoice with less than a fresh second factor by bringing the shop's invoice API a token it should
 * not accept — one from a password sign-in, one for another API, an ID token, an old step-up token replayed, a token
 * minted from the sign-in's refresh token. The front end is not where the check is: the attacker talks to the API
 * directly, so the API (`requireAuthentication`, RFC 9470) checks every token itself. Tokens here are real ones, issued
 * by the provider to a shop; the API is the example shop's (`examples/shop/invoice_api.ts`).
 */
import { expect } from 'chai';
import { decodeJwt, type JWTPayload } from 'jose';
import * as oidc from 'openid-client';
import { ACR } from '../../src/policy/acr.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useExampleShop } from '../helpers/example_shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, signIn, useShop, type Shop } from '../helpers/shop.ts';
import { nextCode, submitCode } from '../helpers/step_up.ts';

const PARTNER_API = 'https://partner-api.shop.test';

describe('threat: an invoice booked with a downgraded token (the invoice API checks scope, audience, acr and auth_time itself)', function () {
  const server = useTestServer('invoice_api_token_downgrade', () => ({
    env: {
      RESOURCE_SERVERS: JSON.stringify({
        'https://api.shop.test': { scope: 'invoice orders:read' },
        [PARTNER_API]: { scope: 'invoice orders:read' },
      }),
    },
  }));
  const shop = useExampleShop(server);
  const rp = useShop(server);
  const clock = useFrozenClock();

  async function book(token: string, orderId = `order-${Math.random().toString(36).slice(2, 12)}`): Promise<{ status: number; challenge: string | null }> {
    const response = await fetch(`${shop.apiUrl}/invoice-orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ orderId, lines: [{ sku: 'os-pro', quantity: 1 }] }),
    });
    return { status: response.status, challenge: response.headers.get('www-authenticate') };
  }

  /** Tokens for `resource` after a sign-in by a fresh browser with `params`; `code` answers the code page when shown. */
  async function tokensFor(
    customer: { email: string; password: string },
    params: Record<string, string>,
    options: { code?: () => Promise<string>; browser?: Browser; client?: Shop } = {},
  ): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
    const client = options.client ?? rp;
    const browser = options.browser ?? new Browser(['http://localhost:7777/']);
    const pending = await client.startLogin(params);
    let page = await browser.go(pending.url.href);
    if (page.html.includes('/login"')) page = await browser.submit(findForm(page, '/login'), { email: customer.email, password: customer.password });
    if (page.status !== 0 && options.code) page = await submitCode(browser, page, await options.code());
    expect(page.status, `expected the shop's callback, got ${page.status}:\n${page.html.slice(0, 600)}`).to.equal(0);
    return client.finishLogin(pending, page.url, params.resource ? { resource: params.resource } : {});
  }

  const ivan = (): typeof server.mfaAccounts.ivan => server.mfaAccounts.ivan;
  const ivanCode = (): Promise<string> => nextCode(clock, server.totpSecrets.ivan);

  it('a step-up token for the invoice API is accepted (the baseline every refusal below departs from)', async function () {
    const tokens = await tokensFor(ivan(), { scope: 'openid invoice', resource: shop.apiAudience, acr_values: ACR.mfa }, { code: ivanCode });
    expect(await book(tokens.access_token)).to.deep.equal({ status: 201, challenge: null });
  });

  it('a token without step-up — a password sign-in\'s token for the invoice API — is refused: no invoice scope (403)', async function () {
    const tokens = await tokensFor(ivan(), { scope: 'openid orders:read', resource: shop.apiAudience });
    expect(decodeJwt(tokens.access_token)).to.include({ acr: ACR.pwd, scope: 'orders:read' });
    expect(await book(tokens.access_token)).to.deep.equal({
      status: 403, challenge: 'Bearer error="insufficient_scope", error_description="The access token lacks the scope invoice", scope="invoice"',
    });
  });

  it('a card customer asking for invoice anyway gets a token without the scope, which is refused (403)', async function () {
    const tokens = await tokensFor(server.accounts.alice, { scope: 'openid invoice', resource: shop.apiAudience });
    expect(tokens.scope ?? '').to.not.include('invoice');
    expect((await book(tokens.access_token)).status).to.equal(403);
  });

  it('a password token edited to claim invoice, mfa and a fresh auth_time is refused: the signature no longer holds (401)', async function () {
    const tokens = await tokensFor(ivan(), { scope: 'openid orders:read', resource: shop.apiAudience });
    const [header, , signature] = tokens.access_token.split('.');
    const claims: JWTPayload = { ...decodeJwt(tokens.access_token), scope: 'invoice', acr: ACR.mfa, amr: ['pwd', 'otp', 'mfa'], auth_time: Math.floor(Date.now() / 1000) };
    const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    expect(await book(forged)).to.deep.equal({ status: 401, challenge: 'Bearer error="invalid_token", error_description="The access token signature is invalid"' });
  });

  it('a step-up with acr alone (no invoice scope) is refused: the scope is what the customer consented to pay with (403)', async function () {
    const tokens = await tokensFor(ivan(), { scope: 'openid orders:read', resource: shop.apiAudience, acr_values: ACR.mfa }, { code: ivanCode });
    expect(decodeJwt(tokens.access_token).acr).to.equal(ACR.mfa);
    expect((await book(tokens.access_token)).status).to.equal(403);
  });

  it('a step-up token for another audience (another API of the provider) is refused (401 invalid_token)', async function () {
    const tokens = await tokensFor(ivan(), { scope: 'openid invoice', resource: PARTNER_API, acr_values: ACR.mfa }, { code: ivanCode });
    expect(decodeJwt(tokens.access_token)).to.include({ aud: PARTNER_API, acr: ACR.mfa });
    expect(await book(tokens.access_token)).to.deep.equal({
      status: 401, challenge: 'Bearer error="invalid_token", error_description="The access token is meant for another API"',
    });
  });

  it('the ID token of a step-up (acr mfa, fresh auth_time) is no access token: refused (401 invalid_token)', async function () {
    const tokens = await tokensFor(ivan(), { scope: 'openid invoice', resource: shop.apiAudience, acr_values: ACR.mfa }, { code: ivanCode });
    expect(tokens.claims()).to.include({ acr: ACR.mfa });
    expect((await book(tokens.id_token as string)).status).to.equal(401);
  });

  it('a replay of an old step-up token: once expired (10 minutes) it is refused as expired', async function () {
    const tokens = await tokensFor(ivan(), { scope: 'openid invoice', resource: shop.apiAudience, acr_values: ACR.mfa }, { code: ivanCode });
    expect((await book(tokens.access_token)).status).to.equal(201);
    clock.tick(601_000);
    expect(await book(tokens.access_token)).to.deep.equal({
      status: 401, challenge: 'Bearer error="invalid_token", error_description="The access token expired"',
    });
  });

  it('a replay of an old step-up: a token still valid whose second factor is over 15 minutes old is refused with the RFC 9470 challenge', async function () {
    const browser = new Browser(['http://localhost:7777/']);
    const params = { scope: 'openid invoice', resource: shop.apiAudience, acr_values: ACR.mfa };
    await tokensFor(ivan(), params, { code: ivanCode, browser });
    clock.tick(12 * 60_000);
    // Same browser 12 minutes on: the provider issues a new token without asking (the factor is within its 15
    // minutes), carrying the time of that factor as auth_time.
    const later = await tokensFor(ivan(), params, { browser });
    expect((await book(later.access_token)).status).to.equal(201);
    clock.tick(4 * 60_000);
    expect(decodeJwt(later.access_token).exp as number * 1000).to.be.greaterThan(Date.now());
    expect(await book(later.access_token)).to.deep.equal({
      status: 401,
      challenge: 'Bearer error="insufficient_user_authentication", error_description="A more recent authentication is required", acr_values="urn:oidc-stepup:acr:mfa", max_age="900"',
    });
  });

  it('the sign-in\'s refresh token never mints a token the invoice API accepts, even right after a step-up in the same browser', async function () {
    const browser = new Browser(['http://localhost:7777/']);
    const { pending, callbackUrl } = await signIn(rp, browser, ivan(), { params: { scope: 'openid offline_access' } });
    const signedIn = await rp.finishLogin(pending, callbackUrl);
    expect(signedIn.refresh_token).to.be.a('string');
    await tokensFor(ivan(), { scope: 'openid invoice', resource: shop.apiAudience, acr_values: ACR.mfa }, { code: ivanCode, browser });

    for (const parameters of [{ resource: shop.apiAudience }, { resource: shop.apiAudience, scope: 'invoice' }] as Record<string, string>[]) {
      let token: string | undefined;
      try {
        token = (await oidc.refreshTokenGrant(rp.config, signedIn.refresh_token as string, parameters)).access_token;
      } catch (err) {
        expect((err as oidc.ResponseBodyError).error, JSON.stringify(parameters)).to.be.oneOf(['invalid_scope', 'invalid_grant', 'invalid_target']);
        continue;
      }
      expect((await book(token)).status, JSON.stringify(parameters)).to.be.oneOf([401, 403]);
    }
  });
});
