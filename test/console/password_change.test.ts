import { expect } from 'chai';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, verifyLogin } from '../../src/accounts/accounts.ts';
import { listEvents } from '../../src/audit/audit_log.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, type Page } from '../helpers/shop.ts';
import { english } from '../helpers/words.ts';
import { authenticate, isLoginForm, mailsTo, newCustomer, signInConsole, submitWithReauth, type Customer } from './support.ts';

/** "Change password" in the security console (`/account/password`), over HTTP like a browser without JavaScript. */
describe('account console: change password', function () {
  const server = useTestServer('password_change', { mailer: 'config' });
  const clock = useFrozenClock();

  async function passwordForm(browser: Browser): Promise<Page> {
    const page = await browser.go(`${server.issuer}/account/password`);
    expect(page.status, page.html.slice(0, 600)).to.equal(200);
    return page;
  }

  /** Signs in to the console and confirms who they are (opening the console is not a re-authentication): the form. */
  async function reauthenticatedPasswordForm(browser: Browser, customer: Customer): Promise<Page> {
    await signInConsole(server, browser, customer, clock);
    const { page, reauthenticated } = await submitWithReauth(browser, await passwordForm(browser), 'password-form', customer, clock);
    expect(reauthenticated).to.equal(true);
    expect(page.html.match(/autocomplete="new-password"/g)).to.have.length(2);
    return page;
  }

  /** Tries the provider's password login in a fresh browser: the console overview on success, the login page otherwise. */
  async function tryLogin(email: string, password: string): Promise<Page> {
    const browser = new Browser();
    const login = await browser.go(`${server.issuer}/account`);
    expect(isLoginForm(login)).to.equal(true);
    return browser.submit(findForm(login, '/login'), { email, password });
  }

  it('changes the password after re-authentication: the old one no longer signs in, the new one does, other sessions end', async function () {
    const customer = await newCustomer(server, 'paula');
    const newPassword = 'a long new passphrase for paula';
    const browser = new Browser();
    const overview = await signInConsole(server, browser, customer, clock);
    expect(overview.html).to.include('href="/account/password"');
    const other = new Browser();
    await signInConsole(server, other, customer, clock);

    clock.tick(6 * 60_000); // the sign-in is no longer recent
    const stale = await passwordForm(browser);
    expect(stale.html).to.not.include('autocomplete="new-password"');
    expect(stale.html).to.include('id="no-current-password"');
    const { page: form, reauthenticated } = await submitWithReauth(browser, stale, 'password-form', customer, clock);
    expect(reauthenticated).to.equal(true);
    expect(form.url).to.equal(`${server.issuer}/account/password`);
    expect(form.html).to.include('data-pending="true"');
    expect(form.html.match(/autocomplete="new-password"/g)).to.have.length(2);
    expect(form.html).to.include('<label for="new-password">').and.include('<label for="confirm-password">');
    expect(form.html).to.not.include('name="current');

    const done = await browser.submit(findForm(form, 'password-form'), { password: newPassword, confirm: newPassword });
    expect(done.url).to.equal(`${server.issuer}/account?done=password_changed`);
    expect(done.html).to.include('Your password was changed');

    const refused = await tryLogin(customer.email, customer.password);
    expect(refused.status).to.equal(401);
    expect(isLoginForm({ ...refused, status: 200 })).to.equal(true);
    const welcome = await signInConsole(server, new Browser(), { ...customer, password: newPassword }, clock);
    expect(welcome.html).to.include(customer.email);

    // the other browser was signed in with the old password: its console session and its provider session are gone
    const otherConsole = await other.go(`${server.issuer}/account`);
    expect(isLoginForm(otherConsole), 'the other browser must sign in again').to.equal(true);
    const changed = (await listEvents(server.conn, customer.id)).find((event) => event.event === 'password_changed');
    expect(changed?.details).to.include({ consoleSessionsEnded: 1, providerSessionsEnded: 1 });
    // this browser stays in the console
    const still = await browser.go(`${server.issuer}/account`);
    expect(still.status).to.equal(200);
    expect(still.html).to.include('Security settings');
  });

  it('writes the audit record and mails the customer, with no password in either', async function () {
    const customer = await newCustomer(server, 'mila');
    const newPassword = 'mila-brand-new-secret';
    const browser = new Browser();
    const form = await reauthenticatedPasswordForm(browser, customer);
    const done = await browser.submit(findForm(form, 'password-form'), { password: newPassword, confirm: newPassword });
    expect(done.url).to.equal(`${server.issuer}/account?done=password_changed`);
    expect(done.html).to.include('Password changed');

    const changed = (await listEvents(server.conn, customer.id)).find((event) => event.event === 'password_changed');
    expect(changed, 'audit record').to.not.equal(undefined);
    expect(changed?.actor).to.deep.equal({ type: 'user', id: customer.id });
    expect(changed?.clientId).to.equal('account-console');
    const record = JSON.stringify(changed);
    expect(record).to.not.include(newPassword).and.not.include(customer.password);

    const mail = mailsTo(server, customer.email).find((entry) => /password/i.test(entry.subject));
    expect(mail?.subject).to.match(/password of your .* account was changed/i);
    expect(mail?.text).to.include("If this wasn't you").and.include(`Reset your password: ${server.issuer}/password-reset`);
    expect(`${mail?.subject} ${mail?.text}`).to.not.include(newPassword).and.not.include(customer.password);
  });

  it('a mismatch, a too short or too long password, or the email address is refused (400) with a message; nothing changes', async function () {
    const customer = await newCustomer(server, 'nora');
    const browser = new Browser();
    const form = findForm(await reauthenticatedPasswordForm(browser, customer), 'password-form');
    const limits = { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH };
    const cases: { fields: Record<string, string>; message: string }[] = [
      { fields: { password: 'correct horse battery', confirm: 'correct horse batterY' }, message: english.t('console.password.error.password_mismatch') },
      { fields: { password: 'short7', confirm: 'short7' }, message: english.t('console.password.error.password_too_short', limits) },
      { fields: { password: 'x'.repeat(257), confirm: 'x'.repeat(257) }, message: english.t('console.password.error.password_too_long', limits) },
      { fields: { password: ' Nora@Example.com', confirm: ' Nora@Example.com' }, message: english.t('console.password.error.password_is_email') },
      { fields: { password: '', confirm: '' }, message: english.t('console.password.error.password_required') },
    ];
    expect(cases[1]?.message).to.equal('Your new password is too short: use at least 8 characters.');
    for (const { fields, message } of cases) {
      const page = await browser.submit(form, fields);
      expect(page.status, message).to.equal(400);
      expect(page.html).to.include('role="alert"').and.include(message.replace(/"/g, '&quot;'));
      expect(page.html, 'the typed password is never echoed back').to.not.include(`value="${fields.password}"`);
    }
    expect(await verifyLogin(server.conn, customer.email, customer.password), 'password unchanged').to.not.equal(null);
    expect((await listEvents(server.conn, customer.id)).map((event) => event.event)).to.not.include('password_changed');
  });

  it('bad input never gives a 500: repeated fields and a missing form are refused', async function () {
    const customer = await newCustomer(server, 'olga');
    const browser = new Browser();
    const form = findForm(await reauthenticatedPasswordForm(browser, customer), 'password-form');
    const body = new URLSearchParams({ csrf: form.fields.csrf ?? '' });
    body.append('password', 'first-long-password');
    body.append('password', 'second-long-password');
    body.append('confirm', 'first-long-password');
    const repeated = await browser.request(form.action, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(repeated.status).to.equal(400);
    const json = await browser.request(form.action, { method: 'POST', body: '{"password":1}', headers: { 'content-type': 'application/json' } });
    expect(json.status).to.equal(415);
    expect(await verifyLogin(server.conn, customer.email, customer.password)).to.not.equal(null);
  });

  it('a stale re-authentication sends the customer to re-authenticate; the new password is not kept and must be typed again', async function () {
    const customer: Customer = await newCustomer(server, 'sven');
    customer.totpSecret = await enrolTotp(server.factors.get('totp') as TotpFactor, customer);
    const newPassword = 'sven-typed-this-before-reauth';
    const browser = new Browser();
    await signInConsole(server, browser, customer, clock);
    // sven signed in with his password alone while he holds an app: the form asks to confirm first
    const first = await passwordForm(browser);
    expect(first.html).to.not.include('autocomplete="new-password"');
    const { page: form } = await submitWithReauth(browser, first, 'password-form', customer, clock);
    expect(form.html).to.include('autocomplete="new-password"');

    clock.tick(6 * 60_000); // the form stayed open too long
    const login = await browser.submit(findForm(form, 'password-form'), { password: newPassword, confirm: newPassword });
    expect(isLoginForm(login), 'sent to re-authenticate').to.equal(true);
    expect(await verifyLogin(server.conn, customer.email, newPassword), 'nothing changed').to.equal(null);
    const parked = await server.conn.db?.collection('account_sessions').find({ 'signedIn.accountId': customer.id }).toArray();
    expect(parked?.some((doc) => (doc.pendingAction as { returnTo?: string } | null)?.returnTo === '/account/password')).to.equal(true);
    expect(JSON.stringify(parked)).to.not.include(newPassword);

    const again = await authenticate(browser, login, customer, clock);
    expect(again.url).to.equal(`${server.issuer}/account/password`);
    expect(again.html).to.include('data-pending="true"').and.include('type it again');
    expect(again.html).to.not.include(newPassword);
    const typed = findForm(again, 'password-form');
    expect(typed.fields.password).to.equal('');
    expect(await verifyLogin(server.conn, customer.email, customer.password)).to.not.equal(null);

    const done = await browser.submit(typed, { password: newPassword, confirm: newPassword });
    expect(done.url).to.equal(`${server.issuer}/account?done=password_changed`);
    expect(await verifyLogin(server.conn, customer.email, newPassword)).to.not.equal(null);
  });

  it('refuses a post without the page\'s CSRF token (403); nothing changes', async function () {
    const customer = await newCustomer(server, 'cora');
    const browser = new Browser();
    const form = findForm(await reauthenticatedPasswordForm(browser, customer), 'password-form');
    const forged = await browser.submit(form, { csrf: 'forged', password: 'cora-new-password-1', confirm: 'cora-new-password-1' });
    expect(forged.status).to.equal(403);
    const missing = await browser.submit(form, { csrf: undefined, password: 'cora-new-password-1', confirm: 'cora-new-password-1' });
    expect(missing.status).to.equal(403);
    expect(await verifyLogin(server.conn, customer.email, customer.password)).to.not.equal(null);
    expect(await verifyLogin(server.conn, customer.email, 'cora-new-password-1')).to.equal(null);
  });
});
