import { expect } from 'chai';
import { createCompany } from '../../src/accounts/companies.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, type Form, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { newCustomer, signInConsole } from './support.ts';

/** Bad input to the console: each answered with a clear page and the right status, never a 500. */
describe('account console: bad input, CSRF and refusals', function () {
  const server = useTestServer('account_bad_input', { mailer: 'config' });
  const clock = useFrozenClock();

  function post(browser: Browser, form: Form, fields: Record<string, string | undefined> = {}, body?: string): Promise<Page> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries({ ...form.fields, ...fields })) if (value !== undefined) params.append(name, value);
    return browser.request(form.action, {
      method: 'POST',
      body: body ?? params,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }

  it('refuses a form without or with a forged CSRF token (403) and changes nothing', async function () {
    const browser = new Browser();
    const page = await signInConsole(server, browser, { ...server.accounts.alice }, clock);
    const form = findForm(page, '/account/methods/totp/add');
    for (const csrf of [undefined, 'forged', 'A'.repeat(43)]) {
      const refused = await post(browser, form, { csrf });
      expect(refused.status).to.equal(403);
      expect(refused.html).to.include('did not come from your security settings page');
      expect(refused.html).to.include('href="/account"');
    }
    // another session's token is refused as well
    const other = new Browser();
    const otherPage = await signInConsole(server, other, { ...server.accounts.bob }, clock);
    const stolen = findForm(otherPage, '/account/methods/totp/add').fields.csrf;
    expect((await post(browser, form, { csrf: stolen })).status).to.equal(403);
  });

  it('answers an unknown factor id with a 400 page', async function () {
    const browser = new Browser();
    const page = await signInConsole(server, browser, { ...server.accounts.alice }, clock);
    for (const path of ['/account/methods/sms/add', '/account/methods/..%2Ftotp/remove', '/account/methods/recovery_code/add']) {
      const answer = await browser.request(`${server.issuer}${path}`);
      expect(answer.status, path).to.equal(400);
      expect(answer.html).to.include('This sign-in method does not exist');
    }
    const form = findForm(page, '/account/methods/totp/add');
    const unknown = await post(browser, { ...form, action: `${server.issuer}/account/methods/webauthn/add` });
    expect(unknown.status).to.equal(400);
  });

  it('refuses a huge body (413), a non-form body (415) and a POST of an ended session (401)', async function () {
    const browser = new Browser();
    const page = await signInConsole(server, browser, { ...server.accounts.alice }, clock);
    const form = findForm(page, '/account/methods/totp/add');
    const huge = await post(browser, form, {}, `csrf=${form.fields.csrf}&pad=${'x'.repeat(64 * 1024)}`);
    expect(huge.status).to.equal(413);
    const json = await browser.request(form.action, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(json.status).to.equal(415);
    const stranger = new Browser();
    const expired = await post(stranger, form);
    expect(expired.status).to.equal(401);
    expect(expired.html).to.include('session has ended');
    // a console session past its idle lifetime is over too
    clock.tick(31 * 60_000);
    const idle = await post(browser, form);
    expect(idle.status).to.equal(401);
  });

  it('refuses a replayed or forged callback (400) without signing anyone in', async function () {
    const browser = new Browser();
    const start = await browser.request(`${server.issuer}/account`);
    const auth = new URL(start.headers.get('location') ?? '', server.issuer);
    const loginPage = await browser.go(auth.href);
    const back = await browser.submit(findForm(loginPage, '/login'), { email: server.accounts.bob.email, password: server.accounts.bob.password });
    expect(back.status).to.equal(200);
    // the callback's state was used up by the sign-in: replaying it is refused
    const callbacks = await browser.request(`${server.issuer}/account/callback?state=${auth.searchParams.get('state')}&code=reused`);
    expect(callbacks.status).to.equal(400);
    expect(callbacks.html).to.include('expired or was already completed');
    const forged = await new Browser().request(`${server.issuer}/account/callback?state=x&code=y`);
    expect(forged.status).to.equal(400);
  });

  it('a company that forces 2FA: its last method cannot be removed, nor sign-in codes turned off', async function () {
    const company = await createCompany(server.conn, { name: 'Forced console', mfaPolicy: 'forced' });
    const customer = await newCustomer(server, 'frida', { companyId: company.id });
    const secret = await enrolTotp(server.factors.get('totp') as TotpFactor, customer);
    const browser = new Browser();
    const page = await signInConsole(server, browser, { ...customer, totpSecret: secret }, clock);
    expect(page.html).to.include('data-state="required"');
    expect(page.html).to.not.include('id="sign-in-mfa-form"');
    const confirm = await browser.go(`${server.issuer}/account/methods/totp/remove`);
    expect(confirm.status).to.equal(409);
    expect(confirm.html).to.include('Your company requires two-factor authentication');
    const refused = await post(browser, { ...findForm(page, 'logout-form'), action: `${server.issuer}/account/methods/totp/remove` });
    expect(refused.status).to.equal(409);
    const off = await post(browser, { ...findForm(page, 'logout-form'), action: `${server.issuer}/account/sign-in-mfa` }, { enabled: 'off' });
    expect(off.status).to.equal(409);
    expect(await server.factors.get('totp')?.isEnrolled(customer.id)).to.equal(true);
  });

  it('refuses to choose a method that is not set up as primary (400)', async function () {
    const customer = await newCustomer(server, 'pia');
    const secret = await enrolTotp(server.factors.get('totp') as TotpFactor, customer);
    const browser = new Browser();
    const page = await signInConsole(server, browser, { ...customer, totpSecret: secret }, clock);
    const base = { ...findForm(page, 'logout-form'), action: `${server.issuer}/account/primary` };
    expect((await post(browser, base, { factor: 'email_code' })).status).to.equal(400);
    expect((await post(browser, base, { factor: 'recovery_code' })).status).to.equal(400);
    const odd = await post(browser, base, { factor: '<script>' });
    expect(odd.status).to.equal(400);
    expect(odd.html).to.not.include('<script>');
  });
});
