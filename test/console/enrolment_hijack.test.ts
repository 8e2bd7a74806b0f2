import { expect } from 'chai';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { ACR } from '../../src/policy/acr.ts';
import { enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, type Browser as BrowserType, type Form, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { isChallenge } from '../helpers/step_up.ts';
import { authenticate, newCustomer, pushedParams, signInConsole, type Customer } from './support.ts';

/**
 * Enrolment hijack (OWASP ASVS 7.5.1): someone holding only the password of an account that has a second factor
 * cannot add, replace or remove a factor in the console, and no change is accepted on a stale authentication.
 */
describe('account console: enrolment hijack', function () {
  const server = useTestServer('account_hijack', { mailer: 'config' });
  const clock = useFrozenClock();

  async function customerWithApp(name: string): Promise<Customer> {
    const customer = await newCustomer(server, name);
    customer.totpSecret = await enrolTotp(server.factors.get('totp') as TotpFactor, customer);
    return customer;
  }

  /** `max_age=0`, which oidc-provider keeps as `prompt=login` in a pushed request (OIDC Core §3.1.2.1). */
  function asksPasswordAgain(pushed: URLSearchParams): boolean {
    return pushed.get('max_age') === '0' || (pushed.get('prompt') ?? '').split(' ').includes('login');
  }

  function post(browser: BrowserType, form: Form, fields: Record<string, string> = {}): Promise<Page> {
    return browser.request(form.action, {
      method: 'POST',
      body: new URLSearchParams({ ...form.fields, ...fields }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }

  it('a password-only session is sent to re-authenticate with password and second factor, and changes nothing', async function () {
    const victim = await customerWithApp('victor');
    const attacker = new Browser();
    // the attacker knows the password only: the console opens (sign-in asks for no code) …
    const overview = await signInConsole(server, attacker, { ...victim, totpSecret: undefined }, clock);
    // … but adding a method demands a new password login and the second factor
    const refused = await post(attacker, findForm(overview, '/account/methods/email_code/add'));
    expect(refused.status).to.equal(303);
    const auth = new URL(refused.headers.get('location') ?? '', server.issuer);
    expect(auth.pathname).to.equal('/auth');
    const pushed = await pushedParams(server, auth.href);
    expect(asksPasswordAgain(pushed)).to.equal(true);
    // the strongest factor the account holds: the app (an email code would not do)
    expect(pushed.get('acr_values')).to.equal(ACR.mfaApp);
    const challenge = await attacker.submit(findForm(await attacker.go(auth.href), '/login'), { email: victim.email, password: victim.password });
    expect(isChallenge(challenge), 'the password alone ends at the second-factor challenge').to.equal(true);

    // removing or replacing fares no better, and nothing was mailed or enrolled
    for (const path of ['/account/methods/totp/remove', '/account/recovery-codes']) {
      const page = await attacker.go(`${server.issuer}${path}`);
      const form = findForm(page, path);
      const answer = await post(attacker, form);
      expect(answer.status, path).to.equal(303);
      expect(asksPasswordAgain(await pushedParams(server, answer.headers.get('location') ?? '')), path).to.equal(true);
    }
    expect(await server.factors.get('totp')?.isEnrolled(victim.id)).to.equal(true);
    expect(await server.factors.get('email_code')?.isEnrolled(victim.id)).to.equal(false);
    expect([...(server.mailer?.outbox() ?? [])].filter((mail) => mail.to.includes(victim.email))).to.have.length(0);
  });

  it('a change submitted more than 5 minutes after the authentication is refused until the customer re-authenticates', async function () {
    const customer = await customerWithApp('stella');
    const browser = new Browser();
    let page = await signInConsole(server, browser, customer, clock);
    // a fresh password + app code re-authentication …
    const first = await post(browser, findForm(await browser.go(`${server.issuer}/account/methods/totp/remove`), 'remove-form'));
    page = await authenticate(browser, await browser.go(new URL(first.headers.get('location') ?? '', server.issuer).href), customer, clock);
    expect(page.html).to.include('data-pending="true"');
    // … goes stale
    clock.tick(5 * 60_000 + 1_000);
    const stale = await post(browser, findForm(page, 'remove-form'));
    expect(stale.status).to.equal(303);
    expect(asksPasswordAgain(await pushedParams(server, stale.headers.get('location') ?? ''))).to.equal(true);
    expect(await server.factors.get('totp')?.isEnrolled(customer.id)).to.equal(true);
  });

  it('a recent password-only sign-in is not enough: the change still demands the second factor', async function () {
    const customer = await customerWithApp('paula');
    const browser = new Browser();
    const overview = await signInConsole(server, browser, { ...customer, totpSecret: undefined }, clock);
    // the session's authentication is recent, but it proved no second factor: still refused
    const answer = await post(browser, findForm(overview, 'sign-in-mfa-form'));
    expect(answer.status).to.equal(303);
    expect((await pushedParams(server, answer.headers.get('location') ?? '')).get('acr_values')).to.equal(ACR.mfaApp);
  });
});
