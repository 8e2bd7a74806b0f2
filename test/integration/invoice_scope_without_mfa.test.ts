import { expect } from 'chai';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { Browser, Shop, signIn } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

/**
 * The invoice scope stands for a customer who proved a fresh second factor (docs/ARCHITECTURE.md "The step-up
 * decision"). A password session never receives it, whichever way the shop asks; the request itself still completes
 * without the scope.
 */
/** The test shops' redirect URIs live here; the browser stops there instead of fetching them. */
const SHOP_ORIGIN = 'http://localhost:7777/';

describe('invoice scope is never granted to a password session', function () {
  const server = useTestServer('invoice_without_mfa');

  function scopesOf(tokens: { scope?: string }): string[] {
    return (tokens.scope ?? '').split(' ').filter(Boolean);
  }

  it('a first-party shop asking for invoice gets its other scopes, not invoice', async function () {
    const shop = await Shop.discover(server.issuer, server.clients.firstParty);
    const { pending, callbackUrl } = await signIn(shop, new Browser([SHOP_ORIGIN]), server.accounts.alice, { params: { scope: 'openid email invoice' } });
    const tokens = await shop.finishLogin(pending, callbackUrl);
    expect(scopesOf(tokens)).to.have.members(['openid', 'email']);
    const introspection = await oidc.tokenIntrospection(shop.config, tokens.access_token);
    expect(introspection.active).to.equal(true);
    expect(String(introspection.scope).split(' ')).to.not.include('invoice');
  });

  it('a third-party shop: the consent page does not offer invoice and the tokens do not carry it', async function () {
    const shop = await Shop.discover(server.issuer, server.clients.thirdParty);
    const browser = new Browser([SHOP_ORIGIN]);
    const started = await signIn(shop, browser, server.accounts.bob, { params: { scope: 'openid email invoice' }, consent: false });
    expect(started.sawConsent).to.equal(true);
    const consentPage = await browser.go(started.callbackUrl);
    expect(consentPage.html.toLowerCase()).to.not.include('invoice');

    const { pending, callbackUrl } = await signIn(shop, new Browser([SHOP_ORIGIN]), server.accounts.bob, { params: { scope: 'openid email invoice' } });
    const tokens = await shop.finishLogin(pending, callbackUrl);
    expect(scopesOf(tokens)).to.have.members(['openid', 'email']);
  });

  it('a JWT access token for an API whose scopes include invoice does not carry invoice', async function () {
    const shop = await Shop.discover(server.issuer, server.clients.firstParty);
    const { pending, callbackUrl } = await signIn(shop, new Browser([SHOP_ORIGIN]), server.accounts.alice, {
      params: { scope: 'openid invoice orders:read', resource: server.api.resource },
    });
    const tokens = await shop.finishLogin(pending, callbackUrl, { resource: server.api.resource });
    const claims = decodeJwt(tokens.access_token);
    expect(claims.aud).to.equal(server.api.resource);
    expect(String(claims.scope).split(' ')).to.include('orders:read').and.not.include('invoice');
  });
});
