/**
 * Threat: a browser that holds a signed-in session and the second factor, but not the password, changes the password
 * in the security console. The console sends it to the provider to sign in again (`max_age=0` plus the level of the
 * account's strongest factor); the browser edits that request — drops `max_age`, lowers the level, or writes its own
 * request for the console's client — and passes with the second factor alone.
 * Rule: the console's re-authentication request is pushed to the provider server-side (RFC 9126), so the browser
 * carries only a reference it cannot edit, and the console's client accepts no other kind of request; the provider
 * asks for every method the request needs again when `max_age` says so.
 */
import { expect } from 'chai';
import { verifyLogin } from '../../src/accounts/accounts.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, type Page } from '../helpers/shop.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';
import { isLoginForm, newCustomer, signInConsole, type Customer } from '../console/support.ts';

describe('console re-authentication cannot be edited by the browser', function () {
  const server = useTestServer('console_reauth_tampering');
  const clock = useFrozenClock();
  let totp: TotpFactor;

  before(async function () {
    totp = server.factors.all.find((factor) => factor.role === 'primary' && factor.enrol && !factor.challenge) as TotpFactor;
  });

  /** A customer with an authenticator app who signs in with the password alone (no code at every sign-in). */
  async function customerWithApp(name: string): Promise<Customer> {
    const customer = await newCustomer(server, name);
    customer.totpSecret = await enrolTotp(totp, customer);
    return customer;
  }

  /** Signs in to the console, lets the sign-in grow old, and asks to change the password: the provider's redirect. */
  async function reauthRedirect(browser: Browser, customer: Customer): Promise<URL> {
    await signInConsole(server, browser, customer, clock);
    clock.tick(6 * 60_000);
    const form = await browser.go(`${server.issuer}/account/password`);
    const answer = await browser.request(findForm(form, 'password-form').action, {
      method: 'POST',
      body: new URLSearchParams(findForm(form, 'password-form').fields),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(answer.status).to.equal(303);
    return new URL(answer.headers.get('location') as string, server.issuer);
  }

  it('the re-authentication request names nothing the browser could edit: client_id and a pushed request_uri only', async function () {
    const url = await reauthRedirect(new Browser(), await customerWithApp('tilda'));
    expect([...url.searchParams.keys()].sort()).to.deep.equal(['client_id', 'request_uri']);
    expect(url.searchParams.get('request_uri')).to.match(/^urn:ietf:params:oauth:request_uri:/);
  });

  it('dropping max_age from the request still asks for the password, not only the code', async function () {
    const customer = await customerWithApp('tobi');
    const browser = new Browser();
    const url = await reauthRedirect(browser, customer);
    url.searchParams.delete('max_age');
    const page = await browser.go(url.href);
    expect(isChallenge(page), 'the code alone was asked').to.equal(false);
    expect(isLoginForm(page), `expected the password form, got ${page.status}:\n${page.html.slice(0, 500)}`).to.equal(true);
  });

  it("a request the browser writes itself for the console's client is refused", async function () {
    const customer = await customerWithApp('timo');
    const browser = new Browser();
    const url = await reauthRedirect(browser, customer);
    const forged = new URL('/auth', server.issuer);
    forged.search = new URLSearchParams({
      client_id: 'account-console', response_type: 'code', scope: 'openid', redirect_uri: `${server.issuer}/account/callback`,
      state: 'forged-state-value-1234567890', nonce: 'n', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256', acr_values: 'urn:oidc-stepup:acr:mfa',
    }).toString();
    const page = await browser.go(forged.href);
    expect(page.status).to.equal(400);
    expect(isChallenge(page) || isLoginForm(page)).to.equal(false);
    expect(url.searchParams.get('client_id')).to.equal('account-console');
  });

  it('with the second factor alone the password cannot be changed, whatever the browser drops', async function () {
    const customer = await customerWithApp('tess');
    const browser = new Browser();
    const url = await reauthRedirect(browser, customer);
    url.searchParams.delete('max_age');
    let page: Page = await browser.go(url.href);
    if (isChallenge(page)) page = await submitCode(browser, page, await nextCode(clock, customer.totpSecret as string));
    if (page.url.endsWith('/account/password') && page.html.includes('autocomplete="new-password"')) {
      await browser.submit(findForm(page, 'password-form'), { password: 'attacker-chosen-password', confirm: 'attacker-chosen-password' });
    }
    expect(await verifyLogin(server.conn, customer.email, 'attacker-chosen-password')).to.equal(null);
    expect(await verifyLogin(server.conn, customer.email, customer.password)).to.not.equal(null);
  });
});
