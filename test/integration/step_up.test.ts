import { expect } from 'chai';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { setSignInMfa } from '../../src/accounts/accounts.ts';
import { ACR } from '../../src/policy/acr.ts';
import { decodeQrDataUrl, wrongCode } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, useShop } from '../helpers/shop.ts';
import { useTestServer, type TestAccount } from '../helpers/server.ts';
import { isChallenge, manualKeyOf, nextCode, submitCode } from '../helpers/step_up.ts';

const SHOP = 'http://localhost:7777/';

describe('step-up MFA scenario matrix (openid-client over HTTP)', function () {
  const server = useTestServer('step_up');
  const shop = useShop(server);
  // One clock for the whole file, only ever moved forward: each accepted TOTP step stays used.
  const clock = useFrozenClock();

  function scopesOf(tokens: { scope?: string }): string[] {
    return (tokens.scope ?? '').split(' ').filter(Boolean);
  }

  /** Starts a login and submits the password; returns the page after it. */
  async function password(browser: Browser, account: TestAccount, params: Record<string, string> = {}, remember = true) {
    const pending = await shop.startLogin(params);
    const loginPage = await browser.go(pending.url.href);
    const page = await browser.submit(findForm(loginPage, '/login'), { email: account.email, password: account.password, remember: remember ? 'yes' : undefined });
    return { pending, page };
  }

  it('plain login: password only, acr pwd, amr ["pwd"], auth_time', async function () {
    const { pending, page } = await password(new Browser([SHOP]), server.mfaAccounts.carol);
    expect(page.status).to.equal(0);
    const claims = (await shop.finishLogin(pending, page.url)).claims();
    expect(claims).to.include({ acr: ACR.pwd, sub: server.mfaAccounts.carol.id });
    expect(claims?.amr).to.deep.equal(['pwd']);
    expect(claims?.auth_time).to.equal(Math.floor(Date.now() / 1000));
  });

  it('acr_values level 2 on a password session shows the code page only, and the token says mfa', async function () {
    const browser = new Browser([SHOP]);
    const first = await password(browser, server.mfaAccounts.carol);
    await shop.finishLogin(first.pending, first.page.url);

    clock.tick(60_000);
    const pending = await shop.startLogin({ acr_values: ACR.mfa });
    const page = await browser.go(pending.url.href);
    expect(isChallenge(page)).to.equal(true);
    expect(page.html).to.not.include('type="password"');
    expect(page.html).to.include('inputmode="numeric"').and.include('Verify code').and.include('Use a recovery code');
    const done = await submitCode(browser, page, await nextCode(clock, server.totpSecrets.carol));
    expect(done.status).to.equal(0);
    const claims = (await shop.finishLogin(pending, done.url)).claims();
    expect(claims?.sub).to.equal(server.mfaAccounts.carol.id);
    expect(claims?.acr).to.equal(ACR.mfa);
    expect(claims?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(claims?.auth_time).to.equal(Math.floor(Date.now() / 1000));
  });

  it('a level-2 session asking level 1 (and level 2 again) is not prompted', async function () {
    const browser = new Browser([SHOP]);
    const { pending, page } = await password(browser, server.mfaAccounts.carol, { acr_values: ACR.mfa });
    const done = await submitCode(browser, page, await nextCode(clock, server.totpSecrets.carol));
    const authTime = (await shop.finishLogin(pending, done.url)).claims()?.auth_time;

    clock.tick(5_000);
    for (const acr of [ACR.pwd, ACR.mfa, 'http://schemas.openid.net/pape/policies/2007/06/multi-factor']) {
      const again = await shop.startLogin({ acr_values: acr });
      const result = await browser.go(again.url.href);
      expect(result.status, acr).to.equal(0);
      const claims = (await shop.finishLogin(again, result.url)).claims();
      expect(claims?.acr).to.equal(acr);
      expect(claims?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
      expect(claims?.auth_time).to.equal(authTime);
    }
  });

  it('an essential acr claim is judged by level: mfa is satisfied by the stronger mfa-app session', async function () {
    const browser = new Browser([SHOP]);
    const claimsParam = JSON.stringify({ id_token: { acr: { essential: true, values: [ACR.mfa] } } });
    const { pending, page } = await password(browser, server.mfaAccounts.carol, { claims: claimsParam });
    expect(isChallenge(page)).to.equal(true);
    const done = await submitCode(browser, page, await nextCode(clock, server.totpSecrets.carol));
    expect(done.status).to.equal(0);
    expect((await shop.finishLogin(pending, done.url)).claims()?.acr).to.equal(ACR.mfa);
    const again = await shop.startLogin({ claims: claimsParam });
    expect((await browser.go(again.url.href)).status).to.equal(0);
  });

  it('prompt=none with an unmet level answers login_required', async function () {
    const browser = new Browser([SHOP]);
    const first = await password(browser, server.mfaAccounts.carol);
    await shop.finishLogin(first.pending, first.page.url);
    const pending = await shop.startLogin({ acr_values: ACR.mfa, prompt: 'none' });
    const result = await browser.go(pending.url.href);
    expect(result.status).to.equal(0);
    expect(new URL(result.url).searchParams.get('error')).to.equal('login_required');
  });

  it('acr_values level 2 for an account without any factor (not allowed to enrol) fails with unmet_authentication_requirements', async function () {
    const { page } = await password(new Browser([SHOP]), server.accounts.alice, { acr_values: ACR.mfa });
    expect(page.status).to.equal(0);
    expect(new URL(page.url).searchParams.get('error')).to.equal('unmet_authentication_requirements');
  });

  it('invoice scope from a fresh browser: password then code in one interaction, invoice granted', async function () {
    const browser = new Browser([SHOP]);
    const { pending, page } = await password(browser, server.mfaAccounts.ivan, { scope: 'openid email invoice' }, false);
    expect(isChallenge(page)).to.equal(true);
    const interactionUid = /\/interaction\/([^/"]+)\/mfa"/.exec(page.html)?.[1];
    expect(page.url).to.include(`/interaction/${interactionUid}/`);
    const done = await submitCode(browser, page, await nextCode(clock, server.totpSecrets.ivan));
    expect(done.status).to.equal(0);
    const tokens = await shop.finishLogin(pending, done.url);
    expect(scopesOf(tokens)).to.include('invoice');
    const claims = tokens.claims();
    expect(claims).to.include({ acr: ACR.mfaApp, sub: server.mfaAccounts.ivan.id });
    expect(claims?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(claims?.auth_time).to.equal(Math.floor(Date.now() / 1000));
    const introspection = await oidc.tokenIntrospection(shop.config, tokens.access_token);
    expect(String(introspection.scope).split(' ')).to.include('invoice');
  });

  it('invoice scope without the privilege: no prompt, scope not granted', async function () {
    const { pending, page } = await password(new Browser([SHOP]), server.mfaAccounts.carol, { scope: 'openid email invoice' });
    expect(page.status).to.equal(0);
    const tokens = await shop.finishLogin(pending, page.url);
    expect(scopesOf(tokens)).to.have.members(['openid', 'email']);
    expect(tokens.claims()).to.include({ acr: ACR.pwd });
    expect(tokens.claims()?.amr).to.deep.equal(['pwd']);
  });

  it('a stale second factor (16 minutes) is asked again for invoice; a fresh one (10 minutes) is not', async function () {
    const browser = new Browser([SHOP]);
    const params = { scope: 'openid invoice' };
    const first = await password(browser, server.mfaAccounts.ivan, params);
    const done = await submitCode(browser, first.page, await nextCode(clock, server.totpSecrets.ivan));
    const firstTokens = await shop.finishLogin(first.pending, done.url);
    expect(scopesOf(firstTokens)).to.include('invoice');

    clock.tick(10 * 60_000);
    const fresh = await shop.startLogin(params);
    const freshResult = await browser.go(fresh.url.href);
    expect(freshResult.status).to.equal(0);
    expect(scopesOf(await shop.finishLogin(fresh, freshResult.url))).to.include('invoice');

    clock.tick(6 * 60_000);
    const stale = await shop.startLogin(params);
    const page = await browser.go(stale.url.href);
    expect(isChallenge(page)).to.equal(true);
    const again = await submitCode(browser, page, await nextCode(clock, server.totpSecrets.ivan));
    const tokens = await shop.finishLogin(stale, again.url);
    expect(scopesOf(tokens)).to.include('invoice');
    expect(tokens.claims()?.auth_time).to.equal(Math.floor(Date.now() / 1000));
    expect(tokens.claims()?.acr).to.equal(ACR.mfaApp);
  });

  it('a stale second factor with prompt=none and invoice answers login_required', async function () {
    const browser = new Browser([SHOP]);
    const first = await password(browser, server.mfaAccounts.ivan, { scope: 'openid invoice' });
    const done = await submitCode(browser, first.page, await nextCode(clock, server.totpSecrets.ivan));
    await shop.finishLogin(first.pending, done.url);
    clock.tick(16 * 60_000);
    const pending = await shop.startLogin({ scope: 'openid invoice', prompt: 'none' });
    const result = await browser.go(pending.url.href);
    expect(new URL(result.url).searchParams.get('error')).to.equal('login_required');
  });

  it('forced company: every password login asks for the code', async function () {
    const browser = new Browser([SHOP]);
    const { pending, page } = await password(browser, server.mfaAccounts.fred);
    expect(isChallenge(page)).to.equal(true);
    const wrong = await submitCode(browser, page, await wrongCode(server.totpSecrets.fred));
    expect(wrong.status).to.equal(400);
    expect(wrong.html).to.include('Invalid authentication code');
    const done = await submitCode(browser, wrong, await nextCode(clock, server.totpSecrets.fred));
    const claims = (await shop.finishLogin(pending, done.url)).claims();
    expect(claims).to.include({ acr: ACR.mfaApp, sub: server.mfaAccounts.fred.id });
    expect(claims?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(claims?.auth_time).to.be.a('number');
  });

  it('enrolment during login (forced company member without a factor): QR + key, wrong code, new code, recovery codes, mfa token', async function () {
    const browser = new Browser([SHOP]);
    const { pending, page } = await password(browser, server.mfaAccounts.gina);
    expect(page.html).to.include('Set up two-factor authentication');
    const qr = /<img src="(data:image\/png;base64,[^"]+)"/.exec(page.html)?.[1];
    const secret = manualKeyOf(page);
    expect(decodeQrDataUrl(qr as string)).to.include(`secret=${secret}`);

    const wrong = await browser.submit(findForm(page, '/enrol'), { code: await wrongCode(secret) });
    expect(wrong.html).to.include('Invalid authentication code — try again with a new code');
    expect(manualKeyOf(wrong)).to.equal(secret);

    const codesPage = await browser.submit(findForm(wrong, '/enrol'), { code: await nextCode(clock, secret) });
    expect(codesPage.status).to.equal(200);
    expect(codesPage.html).to.include('successfully set up');
    const codes = [...codesPage.html.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((match) => match[1]);
    expect(codes).to.have.length(10);

    const done = await browser.submit(findForm(codesPage, '/mfa/continue'));
    expect(done.status).to.equal(0);
    const claims = (await shop.finishLogin(pending, done.url)).claims();
    expect(claims).to.include({ acr: ACR.mfaApp, sub: server.mfaAccounts.gina.id });
    expect(claims?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(claims?.auth_time).to.equal(Math.floor(Date.now() / 1000));
  });

  it('enrolment during login (invoice privilege, no factor): "new QR code", then invoice granted', async function () {
    const browser = new Browser([SHOP]);
    const { pending, page } = await password(browser, server.mfaAccounts.nina, { scope: 'openid invoice' });
    const firstKey = manualKeyOf(page);
    const renewed = await browser.submit(findForm(page, '/enrol/renew'));
    const secret = manualKeyOf(renewed);
    expect(secret).to.not.equal(firstKey);
    const codesPage = await browser.submit(findForm(renewed, '/enrol'), { code: await nextCode(clock, secret) });
    const done = await browser.submit(findForm(codesPage, '/mfa/continue'));
    const tokens = await shop.finishLogin(pending, done.url);
    expect(scopesOf(tokens)).to.include('invoice');
    expect(tokens.claims()?.acr).to.equal(ACR.mfaApp);
  });

  it('recovery code login: the challenge offers it, it signs in at mfa level, and works only once', async function () {
    const codes = await (server.factors.all.find((factor) => factor.role === 'backup') as unknown as { generate(id: string): Promise<string[]> })
      .generate(server.mfaAccounts.fred.id);
    const browser = new Browser([SHOP]);
    const { pending, page } = await password(browser, server.mfaAccounts.fred);
    const link = /href="([^"]*\?method=[^"]+)">Use a recovery code/.exec(page.html)?.[1];
    expect(link).to.be.a('string');
    const recoveryPage = await browser.go(new URL((link as string).replace(/&amp;/g, '&'), server.issuer).href);
    expect(recoveryPage.html).to.include('Recovery code');
    const recovered = await browser.submit(findForm(recoveryPage, '/mfa'), { code: codes[0] });
    // A recovery code most likely means a lost phone: the codes left and the offer come before the shop.
    expect(recovered.status).to.equal(200);
    expect(recovered.html).to.include('You signed in with a recovery code').and.include('You have 9 recovery codes left');
    expect(recovered.html).to.include('Set up my new phone');
    const done = await browser.submit(findForm(recovered, 'continue-form'));
    expect(done.status).to.equal(0);
    const claims = (await shop.finishLogin(pending, done.url)).claims();
    expect(claims).to.include({ acr: ACR.mfaApp, sub: server.mfaAccounts.fred.id });
    expect(claims?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);

    const other = new Browser([SHOP]);
    const second = await password(other, server.mfaAccounts.fred);
    const secondLink = /href="([^"]*\?method=[^"]+)">Use a recovery code/.exec(second.page.html)?.[1] as string;
    const secondPage = await other.go(new URL(secondLink.replace(/&amp;/g, '&'), server.issuer).href);
    const refused = await other.submit(findForm(secondPage, '/mfa'), { code: codes[0] });
    expect(refused.status).to.be.oneOf([400, 429]);
  });

  it('JWT access tokens carry the step-up acr/amr/auth_time (RFC 9470)', async function () {
    const browser = new Browser([SHOP]);
    const { pending, page } = await password(browser, server.mfaAccounts.ivan, { scope: 'openid invoice orders:read', resource: server.api.resource });
    const done = await submitCode(browser, page, await nextCode(clock, server.totpSecrets.ivan));
    const tokens = await shop.finishLogin(pending, done.url, { resource: server.api.resource });
    const claims = decodeJwt(tokens.access_token);
    expect(claims.acr).to.equal(ACR.mfaApp);
    expect(claims.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect(String(claims.scope).split(' ')).to.include('invoice');
  });

  it('opted-in customer ("ask for a code at every sign-in"): every password login asks for the code; turned off, it does not', async function () {
    await setSignInMfa(server.conn, server.mfaAccounts.carol.id, true);
    try {
      const browser = new Browser([SHOP]);
      const { pending, page } = await password(browser, server.mfaAccounts.carol);
      expect(isChallenge(page)).to.equal(true);
      const done = await submitCode(browser, page, await nextCode(clock, server.totpSecrets.carol));
      const claims = (await shop.finishLogin(pending, done.url)).claims();
      expect(claims).to.include({ acr: ACR.mfaApp, sub: server.mfaAccounts.carol.id });
      expect(claims?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
      expect(claims?.auth_time).to.equal(Math.floor(Date.now() / 1000));
    } finally {
      await setSignInMfa(server.conn, server.mfaAccounts.carol.id, false);
    }
    const { page } = await password(new Browser([SHOP]), server.mfaAccounts.carol);
    expect(page.status).to.equal(0);
  });
});
