/**
 * The lost-phone path inside a sign-in, over HTTP like a browser without JavaScript: a recovery code, then "N recovery
 * codes left — set up your new phone?", the new phone's app replacing the old one at its confirmation, new recovery
 * codes replacing the old set, each change mailed, and back at the shop. Replacing needs the recovery code and the
 * password of this very sign-in.
 */
import { expect } from 'chai';
import type { RecoveryFactor } from '../../src/factors/recovery/factor.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { ACR } from '../../src/policy/acr.ts';
import { mailsTo, newCustomer, recoveryCodesOn, type Customer } from '../console/support.ts';
import { appCode, enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, signIn, useShop, type Page } from '../helpers/shop.ts';
import { isChallenge, manualKeyOf, nextCode, submitCode } from '../helpers/step_up.ts';

describe('lost phone: a recovery code, then a new phone set up in the same sign-in', function () {
  const server = useTestServer('lost_phone', { mailer: 'config', env: { SUPPORT_URL: 'https://help.shop.example/sign-in', SUPPORT_EMAIL: 'help@shop.example' } });
  const shop = useShop(server);
  const clock = useFrozenClock();

  async function customerWithApp(name: string): Promise<Customer & { codes: string[] }> {
    const customer = await newCustomer(server, name);
    customer.totpSecret = await enrolTotp(server.factors.get('totp') as TotpFactor, customer);
    const codes = await (server.factors.backup[0] as RecoveryFactor).generate(customer.id);
    return { ...customer, codes };
  }

  /** A shop sign-in asking for the app's level, answered with a recovery code: the page after the code. */
  async function signInWithRecoveryCode(browser: Browser, customer: Customer, code: string) {
    const pending = await shop.startLogin({ acr_values: ACR.mfaApp });
    const login = await browser.go(pending.url.href);
    const challenge = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
    expect(isChallenge(challenge)).to.equal(true);
    const link = /href="([^"]*\?method=[^"]+)">Use a recovery code/.exec(challenge.html)?.[1] as string;
    const recoveryPage = await browser.go(new URL(link.replace(/&amp;/g, '&'), server.issuer).href);
    return { pending, page: await browser.submit(findForm(recoveryPage, '/mfa'), { code }) };
  }

  it('sets up the new phone: the old app and the old recovery codes stop working, the new ones work, and it is mailed', async function () {
    const customer = await customerWithApp('lostphone');
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    const { pending, page: offer } = await signInWithRecoveryCode(browser, customer, customer.codes[0] as string);
    expect(offer.status).to.equal(200);
    expect(offer.html).to.include('You have 9 recovery codes left').and.include('Lost your phone?');

    const qr = await browser.submit(findForm(offer, 'replace-form'));
    expect(qr.status).to.equal(200);
    expect(qr.html).to.include('Set up your new phone').and.include('Your old phone keeps working until you enter a code from the new one');
    const firstKey = manualKeyOf(qr);
    const renewed = await browser.submit(findForm(qr, '/replace/renew'));
    const newSecret = manualKeyOf(renewed);
    expect(newSecret).to.not.equal(firstKey).and.not.equal(customer.totpSecret);
    // a wrong or malformed code changes nothing
    const empty = await browser.submit(findForm(renewed, '/replace/confirm'), { code: '' });
    expect(empty.status).to.equal(400);
    expect(manualKeyOf(empty)).to.equal(newSecret);

    const codesPage = await browser.submit(findForm(empty, '/replace/confirm'), { code: await nextCode(clock, newSecret) });
    expect(codesPage.status).to.equal(200);
    expect(codesPage.html).to.include('Your new phone is set up');
    const newCodes = recoveryCodesOn(codesPage);
    expect(newCodes).to.have.length(10);
    const done = await browser.submit(findForm(codesPage, '/mfa/continue'));
    expect(done.status).to.equal(0);
    expect((await shop.finishLogin(pending, done.url)).claims()).to.include({ acr: ACR.mfaApp, sub: customer.id });

    // The old phone and the old codes no longer sign in; the new phone does.
    const next = new Browser([server.clients.firstParty.redirectUri]);
    const challenge = await next.submit(findForm(await next.go((await shop.startLogin({ acr_values: ACR.mfaApp })).url.href), '/login'), {
      email: customer.email, password: customer.password,
    });
    clock.tick(30_000);
    expect((await submitCode(next, challenge, await appCode(customer.totpSecret as string))).status).to.equal(400);
    expect((await submitCode(next, challenge, await appCode(newSecret))).status).to.equal(0);
    const stale = await signInWithRecoveryCode(new Browser([server.clients.firstParty.redirectUri]), customer, customer.codes[1] as string);
    expect(stale.page.status).to.be.oneOf([400, 429]);
    const fresh = await signInWithRecoveryCode(new Browser([server.clients.firstParty.redirectUri]), customer, newCodes[0] as string);
    expect(fresh.page.html).to.include('You have 9 recovery codes left');

    const subjects = mailsTo(server, customer.email).map((mail) => mail.subject);
    expect(subjects.some((subject) => /sign-in method was added/.test(subject))).to.equal(true);
    expect(subjects.some((subject) => /New recovery codes were created/.test(subject))).to.equal(true);
  });

  it('"Not now" goes back to the shop, and reloading the page shows it again', async function () {
    const customer = await customerWithApp('notnow');
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    const { pending, page: offer } = await signInWithRecoveryCode(browser, customer, customer.codes[0] as string);
    const again = await browser.go(offer.url.replace(/\/mfa$/, ''));
    expect(again.html).to.include('You signed in with a recovery code');
    const done = await browser.submit(findForm(again, 'continue-form'));
    expect(done.status).to.equal(0);
    expect((await shop.finishLogin(pending, done.url)).claims()?.sub).to.equal(customer.id);
  });

  it('the last recovery code says none are left', async function () {
    const customer = await customerWithApp('lastcode');
    const recovery = server.factors.backup[0] as RecoveryFactor;
    for (const code of customer.codes.slice(0, 9)) expect((await recovery.verify(customer.id, code)).ok).to.equal(true);
    const { page } = await signInWithRecoveryCode(new Browser([server.clients.firstParty.redirectUri]), customer, customer.codes[9] as string);
    expect(page.html).to.include('You have no recovery codes left');
  });

  it('a signed-in session that steps up with a recovery code is sent to the security settings to replace the app', async function () {
    const customer = await customerWithApp('signedin');
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    await signIn(shop, browser, customer);
    const pending = await shop.startLogin({ acr_values: ACR.mfaApp });
    const challenge: Page = await browser.go(pending.url.href);
    expect(isChallenge(challenge)).to.equal(true);
    const link = /href="([^"]*\?method=[^"]+)">Use a recovery code/.exec(challenge.html)?.[1] as string;
    const recoveryPage = await browser.go(new URL(link.replace(/&amp;/g, '&'), server.issuer).href);
    const offer = await browser.submit(findForm(recoveryPage, '/mfa'), { code: customer.codes[0] as string });
    expect(offer.html).to.include('security settings').and.not.include('replace-form');
    // and the replace route refuses to start here
    const uid = /\/interaction\/([^/"]+)\/mfa\/continue/.exec(offer.html)?.[1] as string;
    const csrf = /name="csrf" value="([^"]+)"/.exec(offer.html)?.[1] as string;
    const refused = await browser.request(`${server.issuer}/interaction/${uid}/replace`, {
      method: 'POST', body: new URLSearchParams({ csrf }), headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(refused.status).to.equal(303);
    expect(refused.html).to.not.include('manual-key');
  });

  it('the lockout page offers only what still works (the recovery codes), the way back after the wait, and support as links', async function () {
    const customer = await customerWithApp('lockedout');
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    const pending = await shop.startLogin({ acr_values: ACR.mfaApp });
    let page = await browser.submit(findForm(await browser.go(pending.url.href), '/login'), { email: customer.email, password: customer.password });
    for (let i = 0; i < 5 && page.status !== 429; i += 1) page = await submitCode(browser, page, '000000');
    expect(page.status).to.equal(429);
    expect(page.html).to.include('Too many wrong codes').and.not.include('autocomplete="one-time-code"');
    expect(page.html).to.include('data-offer="recovery_code"').and.include('Use a recovery code');
    expect(page.html).to.include('href="https://help.shop.example/sign-in"').and.include('href="mailto:help@shop.example"');
    const offer = /href="([^"]+)" data-offer="recovery_code"/.exec(page.html)?.[1] as string;
    const recoveryPage = await browser.go(new URL(offer.replace(/&amp;/g, '&'), server.issuer).href);
    const recovered = await browser.submit(findForm(recoveryPage, '/mfa'), { code: customer.codes[0] as string });
    expect(recovered.html).to.include('You signed in with a recovery code').and.include('Set up my new phone');
  });
});
