/**
 * Refresh tokens for first-party shops: a first-party shop asking `offline_access` gets a refresh token without a
 * consent page (OIDC Core §11: the operator's own shop is a condition permitting offline access); a third-party shop
 * gets one only through the consent page (`prompt=consent`), as before; a step-up scope never comes with one. Over
 * HTTP with openid-client as the shop.
 */
import { expect } from 'chai';
import * as oidc from 'openid-client';
import { ACR } from '../../src/policy/acr.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, signIn, useShop } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { nextCode, submitCode } from '../helpers/step_up.ts';

const SHOP = 'http://localhost:7777/';

describe('refresh tokens: first-party shops without a consent page', function () {
  const server = useTestServer('first_party_refresh');
  const shop = useShop(server);
  const partner = useShop(server, 'thirdParty');
  const clock = useFrozenClock();

  function scopesOf(tokens: { scope?: string }): string[] {
    return (tokens.scope ?? '').split(' ').filter(Boolean);
  }

  it('a first-party shop asking offline_access gets a refresh token without a consent page, and it refreshes', async function () {
    const { pending, callbackUrl, sawConsent } = await signIn(shop, new Browser([SHOP]), server.accounts.alice, { params: { scope: 'openid email offline_access' } });
    expect(sawConsent).to.equal(false);
    const tokens = await shop.finishLogin(pending, callbackUrl);
    expect(tokens.refresh_token, 'a refresh token').to.be.a('string');
    expect(scopesOf(tokens)).to.include('offline_access');
    clock.tick(60_000);
    const refreshed = await oidc.refreshTokenGrant(shop.config, tokens.refresh_token as string);
    expect(refreshed.access_token).to.be.a('string');
    expect(refreshed.claims()?.sub).to.equal(server.accounts.alice.id);
  });

  it('a signed-in browser gets it silently too, and the token outlives the browser session (signed out)', async function () {
    const browser = new Browser([SHOP]);
    const first = await signIn(shop, browser, { ...server.accounts.bob, remember: true });
    await shop.finishLogin(first.pending, first.callbackUrl);
    const pending = await shop.startLogin({ scope: 'openid offline_access', prompt: 'none' });
    const page = await browser.go(pending.url.href);
    expect(page.status).to.equal(0);
    const tokens = await shop.finishLogin(pending, page.url);
    expect(tokens.refresh_token).to.be.a('string');

    const logout = oidc.buildEndSessionUrl(shop.config, { id_token_hint: tokens.id_token as string, post_logout_redirect_uri: server.clients.firstParty.postLogoutRedirectUri });
    const confirm = await browser.go(logout.href);
    const out = await browser.submit(findForm(confirm, 'op.logoutForm'), { logout: 'yes' });
    expect(out.status).to.equal(0);
    expect((await oidc.refreshTokenGrant(shop.config, tokens.refresh_token as string)).access_token).to.be.a('string');
  });

  it('without offline_access there is no refresh token, and a client cannot set the marker itself', async function () {
    const plain = await signIn(shop, new Browser([SHOP]), server.accounts.alice, { params: { scope: 'openid' } });
    expect((await shop.finishLogin(plain.pending, plain.callbackUrl)).refresh_token).to.equal(undefined);
    const forged = await signIn(shop, new Browser([SHOP]), server.accounts.alice, { params: { scope: 'openid', offline_access_asked: 'true' } });
    const tokens = await shop.finishLogin(forged.pending, forged.callbackUrl);
    expect(tokens.refresh_token).to.equal(undefined);
    expect(scopesOf(tokens)).to.not.include('offline_access');
  });

  it('a third-party shop gets no refresh token without prompt=consent, and one after the consent page', async function () {
    const silent = await signIn(partner, new Browser([SHOP]), server.accounts.alice, { params: { scope: 'openid offline_access' } });
    expect((await partner.finishLogin(silent.pending, silent.callbackUrl)).refresh_token).to.equal(undefined);
    const asked = await signIn(partner, new Browser([SHOP]), server.accounts.alice, { params: { scope: 'openid offline_access', prompt: 'consent' } });
    expect(asked.sawConsent).to.equal(true);
    expect((await partner.finishLogin(asked.pending, asked.callbackUrl)).refresh_token).to.be.a('string');
  });

  it('a step-up scope never comes with a refresh token, offline_access or not', async function () {
    const browser = new Browser([SHOP]);
    const pending = await shop.startLogin({ scope: 'openid invoice offline_access', acr_values: ACR.mfa });
    const login = await browser.go(pending.url.href);
    const challenge = await browser.submit(findForm(login, '/login'), { email: server.mfaAccounts.ivan.email, password: server.mfaAccounts.ivan.password });
    const done = await submitCode(browser, challenge, await nextCode(clock, server.totpSecrets.ivan));
    expect(done.status).to.equal(0);
    const tokens = await shop.finishLogin(pending, done.url);
    expect(scopesOf(tokens)).to.include('invoice');
    expect(tokens.refresh_token).to.equal(undefined);
  });
});
