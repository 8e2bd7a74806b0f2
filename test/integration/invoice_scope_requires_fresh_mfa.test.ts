import { expect } from 'chai';
import { ACR } from '../../src/policy/acr.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, Shop, findForm, useShop } from '../helpers/shop.ts';
import { useTestServer, type TestAccount } from '../helpers/server.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';

/**
 * The invoice scope is granted only after a second factor no older than 15 minutes, in the session that asks
 * (docs/ARCHITECTURE.md "The step-up decision"): never on a password session, never on a stale factor, never by a
 * silent request.
 */
const SHOP = 'http://localhost:7777/';

describe('invoice scope requires a fresh second factor', function () {
  const server = useTestServer('invoice_fresh_mfa');
  const shop = useShop(server);
  const clock = useFrozenClock();

  function scopesOf(tokens: { scope?: string }): string[] {
    return (tokens.scope ?? '').split(' ').filter(Boolean);
  }

  async function password(browser: Browser, account: TestAccount, params: Record<string, string>) {
    const pending = await shop.startLogin(params);
    const loginPage = await browser.go(pending.url.href);
    const page = await browser.submit(findForm(loginPage, '/login'), { email: account.email, password: account.password, remember: 'yes' });
    return { pending, page };
  }

  it('a privileged customer with only a password never gets invoice: the code page stands in the way', async function () {
    const { page } = await password(new Browser([SHOP]), server.mfaAccounts.ivan, { scope: 'openid invoice' });
    expect(page.status).to.not.equal(0);
    expect(isChallenge(page)).to.equal(true);
  });

  it('a password session asking invoice silently (prompt=none) gets login_required, not a token without MFA', async function () {
    const browser = new Browser([SHOP]);
    const first = await password(browser, server.mfaAccounts.ivan, { scope: 'openid' });
    expect(first.page.status).to.equal(0);
    const tokens = await shop.finishLogin(first.pending, first.page.url);
    expect(scopesOf(tokens)).to.not.include('invoice');
    const silent = await shop.startLogin({ scope: 'openid invoice', prompt: 'none' });
    const result = await browser.go(silent.url.href);
    expect(new URL(result.url).searchParams.get('error')).to.equal('login_required');
  });

  it('an invoice grant of an earlier step-up does not reach a later request of the same session once the factor is stale', async function () {
    const browser = new Browser([SHOP]);
    const first = await password(browser, server.mfaAccounts.ivan, { scope: 'openid invoice' });
    const done = await submitCode(browser, first.page, await nextCode(clock, server.totpSecrets.ivan));
    expect(scopesOf(await shop.finishLogin(first.pending, done.url))).to.include('invoice');

    clock.tick(15 * 60_000 + 1_000);
    const silent = await shop.startLogin({ scope: 'openid invoice', prompt: 'none' });
    const refused = await browser.go(silent.url.href);
    expect(new URL(refused.url).searchParams.get('error')).to.equal('login_required');
    // without asking for invoice the shop gets a token, and it does not carry invoice
    const plain = await shop.startLogin({ scope: 'openid' });
    const result = await browser.go(plain.url.href);
    expect(scopesOf(await shop.finishLogin(plain, result.url))).to.deep.equal(['openid']);
  });

  it('a password re-login (prompt=login) right after a step-up must pass the second factor again before invoice', async function () {
    const browser = new Browser([SHOP]);
    const first = await password(browser, server.mfaAccounts.ivan, { scope: 'openid invoice' });
    const done = await submitCode(browser, first.page, await nextCode(clock, server.totpSecrets.ivan));
    await shop.finishLogin(first.pending, done.url);

    clock.tick(60_000);
    const again = await password(browser, server.mfaAccounts.ivan, { scope: 'openid invoice', prompt: 'login' });
    expect(isChallenge(again.page)).to.equal(true);
    const finished = await submitCode(browser, again.page, await nextCode(clock, server.totpSecrets.ivan));
    const tokens = await shop.finishLogin(again.pending, finished.url);
    expect(scopesOf(tokens)).to.include('invoice');
    expect(tokens.claims()?.acr).to.equal(ACR.mfaApp);
  });

  it('a customer without the invoice privilege who passed a second factor still does not get invoice', async function () {
    const browser = new Browser([SHOP]);
    const { pending, page } = await password(browser, server.mfaAccounts.carol, { scope: 'openid invoice', acr_values: ACR.mfa });
    const done = await submitCode(browser, page, await nextCode(clock, server.totpSecrets.carol));
    const tokens = await shop.finishLogin(pending, done.url);
    expect(tokens.claims()?.acr).to.equal(ACR.mfa);
    expect(scopesOf(tokens)).to.deep.equal(['openid']);
  });

  it('a step-up with invoice and offline_access gets no refresh token (it would outlive the 15 minutes)', async function () {
    const browser = new Browser([SHOP]);
    const { pending, page } = await password(browser, server.mfaAccounts.ivan, { scope: 'openid invoice offline_access', prompt: 'consent' });
    const consent = await submitCode(browser, page, await nextCode(clock, server.totpSecrets.ivan));
    const done = await browser.submit(findForm(consent, '/confirm'));
    const tokens = await shop.finishLogin(pending, done.url);
    expect(scopesOf(tokens)).to.include('invoice').and.include('offline_access');
    expect(tokens.refresh_token).to.equal(undefined);
  });

  it('a third-party shop: after a fresh second factor the consent page names invoice and the tokens carry it', async function () {
    const partner = await Shop.discover(server.issuer, server.clients.thirdParty);
    const browser = new Browser([SHOP]);
    const pending = await partner.startLogin({ scope: 'openid invoice' });
    const loginPage = await browser.go(pending.url.href);
    const page = await browser.submit(findForm(loginPage, '/login'), { email: server.mfaAccounts.ivan.email, password: server.mfaAccounts.ivan.password });
    const consent = await submitCode(browser, page, await nextCode(clock, server.totpSecrets.ivan));
    expect(consent.html).to.include('pay by invoice');
    const done = await browser.submit(findForm(consent, '/confirm'));
    const tokens = await partner.finishLogin(pending, done.url);
    expect(scopesOf(tokens)).to.include('invoice');
    expect(tokens.claims()?.acr).to.equal(ACR.mfaApp);
  });
});
