import { AsyncResource } from 'node:async_hooks';
import { expect } from 'chai';
import { findAccountById, setSignInMfa, signInMfaEnabled } from '../../src/accounts/accounts.ts';
import { listEvents } from '../../src/audit/audit_log.ts';
import type { Factor } from '../../src/factors/contract.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { createFactorSetGuard } from '../../src/factors/shared/factor_set_guard.ts';
import { appCode, connectSameDb, enrolTotp, secretOfUri } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { isChallenge, submitCode } from '../helpers/step_up.ts';
import { Browser, findForm, type Form, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { lastCodeMailedTo, newCustomer, signInConsole, submitWithReauth, type Customer } from './support.ts';

const ROUNDS = 4;

/**
 * Two removals of sign-in methods in flight at once (two tabs, a double submit, a script): "is this the last
 * method?" and the removal must be one step per account, or each request sees the other method still there and both
 * remove. A member of a company whose policy forces 2FA must keep a method; a customer whose last method goes loses
 * the recovery codes and "ask at every sign-in" with it (codes alone are no second factor).
 */
describe('concurrent factor removal: two removals in flight are decided one after the other', function () {
  const server = useTestServer('concurrent_factor_removal', { mailer: 'config' });
  const clock = useFrozenClock();
  let forcedCompanyId: string;

  before(async function () {
    const fred = await findAccountById(server.conn, server.mfaAccounts.fred.id);
    forcedCompanyId = fred?.companyId ?? '';
    expect(forcedCompanyId, 'fred belongs to the forced company').to.not.equal('');
  });

  const primaries = (): Factor[] => server.factors.all.filter((factor) => factor.role === 'primary');
  const appFactor = (): TotpFactor => primaries().find((factor) => !factor.challenge) as TotpFactor;
  const emailFactor = (): Factor => primaries().find((factor) => factor.challenge) as Factor;
  const backupFactor = (): Factor => server.factors.all.find((factor) => factor.role === 'backup') as Factor;

  /** An account holding an authenticator app, email codes and recovery codes, asking for a code at every sign-in. */
  async function holderOfTwoMethods(name: string, companyId?: string): Promise<Customer> {
    const customer = await newCustomer(server, name, companyId ? { companyId } : {});
    customer.totpSecret = await enrolTotp(appFactor(), customer);
    const email = emailFactor();
    const begun = await email.enrol?.begin(customer);
    expect(begun?.ok, 'email enrolment started').to.equal(true);
    const confirmed = await email.enrol?.confirm?.(customer.id, lastCodeMailedTo(server, customer.email));
    expect(confirmed?.ok, 'email enrolment confirmed').to.equal(true);
    const codes = await backupFactor().enrol?.begin(customer, { replace: true });
    expect(codes?.ok, 'recovery codes made').to.equal(true);
    await setSignInMfa(server.conn, customer.id, true);
    expect((await server.factors.usableFactors(customer.id, 2)).filter((factor) => factor.role === 'primary')).to.have.length(2);
    return customer;
  }

  /**
   * Signs `customer` in to the console, re-authenticates on the first removal page and returns the two removal forms
   * (app, email), ready to be submitted without another re-authentication.
   */
  async function readyToRemoveBoth(customer: Customer): Promise<{ browser: Browser; forms: [Form, Form] }> {
    const browser = new Browser();
    await signInConsole(server, browser, customer, clock);
    const [app, email] = [appFactor(), emailFactor()];
    const first = await browser.go(`${server.issuer}/account/methods/${app.id}/remove`);
    expect(first.status, first.html.slice(0, 600)).to.equal(200);
    const { page, reauthenticated } = await submitWithReauth(browser, first, 'remove-form', customer, clock);
    expect(reauthenticated, 'the console asked for a re-authentication first').to.equal(true);
    expect(page.html).to.include('data-pending="true"');
    const second = await browser.go(`${server.issuer}/account/methods/${email.id}/remove`);
    expect(second.status, second.html.slice(0, 600)).to.equal(200);
    return { browser, forms: [findForm(page, 'remove-form'), findForm(second, 'remove-form')] };
  }

  /** Posts `form` once, without following the redirect (the status and page the console answered). */
  function post(browser: Browser, form: Form): Promise<Page> {
    return browser.request(form.action, {
      method: 'POST',
      body: new URLSearchParams(form.fields),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  }

  async function methodsLeft(accountId: string): Promise<number> {
    return (await Promise.all(primaries().map((factor) => factor.isEnrolled(accountId)))).filter(Boolean).length;
  }

  it('an authenticator app confirmed while the last email method is removed keeps the recovery codes and the switch', async function () {
    const customer = await newCustomer(server, 'latecomer');
    const email = emailFactor();
    expect((await email.enrol?.begin(customer))?.ok, 'email enrolment started').to.equal(true);
    expect((await email.enrol?.confirm?.(customer.id, lastCodeMailedTo(server, customer.email)))?.ok, 'email enrolment confirmed').to.equal(true);
    expect((await backupFactor().enrol?.begin(customer, { replace: true }))?.ok, 'recovery codes made').to.equal(true);
    await setSignInMfa(server.conn, customer.id, true);
    // An authenticator app set up in another tab, confirmed while the removal runs (confirmations take no lease).
    const begun = await appFactor().enrol.begin(customer);
    if (!begun.ok) throw new Error(begun.code);
    const secret = secretOfUri(begun.view.otpauthUri);

    // Signing in and re-authenticating both ask for a mailed code.
    const withMailedCode = async (login: Page): Promise<Page> => {
      const challenge = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
      expect(isChallenge(challenge), challenge.html.slice(0, 600)).to.equal(true);
      clock.tick(120_000); // past the resend cooldown of the previous mail
      const sent = await browser.submit(findForm(challenge, '/mfa/send'));
      return submitCode(browser, sent, lastCodeMailedTo(server, customer.email));
    };
    const browser = new Browser();
    const overview = await withMailedCode(await browser.go(`${server.issuer}/account`));
    expect(overview.url, overview.html.replace(/<style[\s\S]*?<\/style>/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 900)).to.equal(`${server.issuer}/account`);
    const first = await browser.go(`${server.issuer}/account/methods/${email.id}/remove`);
    const page = await withMailedCode(await browser.submit(findForm(first, 'remove-form')));
    expect(page.html).to.include('data-pending="true"');

    // The app is confirmed right after the removal took the email method away, before it decides on the clean-up.
    const elsewhere = new AsyncResource('another_request');
    const EmailFactors = server.conn.models.EmailCodeFactor as unknown as { updateOne: (...args: unknown[]) => unknown };
    const updateOne = EmailFactors.updateOne;
    let confirmedMeanwhile = false;
    EmailFactors.updateOne = function (this: unknown, ...args: unknown[]) {
      EmailFactors.updateOne = updateOne;
      const query = updateOne.apply(this, args) as Promise<unknown>;
      const run = async (): Promise<unknown> => {
        const result = await query;
        // Another request's work: outside this request's async context (what it read, what it forgets).
        const code = await appCode(secret);
        confirmedMeanwhile = (await elsewhere.runInAsyncScope(() => appFactor().enrol.confirm(customer.id, code))).ok;
        return result;
      };
      return { exec: run, then: (done: (value: unknown) => unknown, failed: (reason: unknown) => unknown) => run().then(done, failed) };
    };
    let answer: Page;
    try {
      answer = await post(browser, findForm(page, 'remove-form'));
    } finally {
      EmailFactors.updateOne = updateOne;
    }
    expect(confirmedMeanwhile, 'the app was confirmed during the removal').to.equal(true);
    expect(answer.status, answer.html.slice(0, 600)).to.equal(303);
    expect(await email.isEnrolled(customer.id), 'the email method is gone').to.equal(false);
    expect(await appFactor().isEnrolled(customer.id), 'the app is set up').to.equal(true);
    expect(await backupFactor().isEnrolled(customer.id), 'the recovery codes back up the app').to.equal(true);
    expect(await signInMfaEnabled(server.conn, customer.id), 'every sign-in still asks for a code').to.equal(true);
  });

  it('two removals in flight never leave a forced member without a method', async function () {
    this.timeout(60_000);
    for (let round = 1; round <= ROUNDS; round += 1) {
      const member = await holderOfTwoMethods(`forcedpair${round}`, forcedCompanyId);
      const { browser, forms } = await readyToRemoveBoth(member);
      const answers = await Promise.all(forms.map((form) => post(browser, form)));
      const statuses = answers.map((answer) => answer.status).sort();
      expect(await methodsLeft(member.id), `round ${round}: methods left (answers ${statuses.join(', ')})`).to.equal(1);
      expect(statuses, `round ${round}: one removal went through, the other was refused`).to.deep.equal([303, 409]);
      // The second waited for the first and was then refused as the last method, not as a busy account.
      const refused = answers.find((answer) => answer.status === 409) as Page;
      expect(refused.html).to.include('company_requires_mfa');
      expect(refused.html).to.include('your last sign-in method cannot be removed');
      expect(await server.factors.hasPrimaryFactor(member.id)).to.equal(true);
      expect(await backupFactor().isEnrolled(member.id), `round ${round}: recovery codes kept`).to.equal(true);
      expect(await signInMfaEnabled(server.conn, member.id), `round ${round}: every sign-in still asks`).to.equal(true);
    }
  });

  it('of two removals in flight of a customer\'s two methods, the one that removed the last also removes the recovery codes', async function () {
    this.timeout(60_000);
    for (let round = 1; round <= ROUNDS; round += 1) {
      const customer = await holderOfTwoMethods(`customerpair${round}`);
      const { browser, forms } = await readyToRemoveBoth(customer);
      const answers = await Promise.all(forms.map((form) => post(browser, form)));
      const statuses = answers.map((answer) => answer.status);
      const left = await methodsLeft(customer.id);
      const codes = await backupFactor().isEnrolled(customer.id);
      const asks = await signInMfaEnabled(server.conn, customer.id);
      const state = `round ${round}: ${left} method(s), recovery codes ${codes}, ask at every sign-in ${asks} (answers ${statuses.join(', ')})`;
      // Both went through, one after the other: recovery codes back up a method, so they and the switch went with
      // the last one (never codes without a method).
      expect(statuses, state).to.deep.equal([303, 303]);
      expect(left, state).to.equal(0);
      expect(codes, state).to.equal(false);
      expect(asks, state).to.equal(false);
      const removals = (await listEvents(server.conn, customer.id)).filter((event) => event.event === 'factor_removed');
      const alsoRemoved = removals.map((event) => (event.details?.alsoRemoved as string[] | undefined) ?? []);
      expect(alsoRemoved.map((ids) => ids.length).sort(), `round ${round}: exactly one removal was the last`).to.deep.equal([0, 1]);
      expect(alsoRemoved.flat()).to.deep.equal([backupFactor().id]);
    }
  });

  it('a removal while another server holds the account\'s sign-in methods answers "in progress" and changes nothing', async function () {
    this.timeout(60_000);
    const customer = await holderOfTwoMethods('heldpair');
    const { browser, forms } = await readyToRemoveBoth(customer);
    const otherServer = await connectSameDb(server.conn);
    try {
      const held = await createFactorSetGuard(otherServer).withLease(customer.id, () => post(browser, forms[0]));
      expect(held.ok, 'the other server held the lease').to.equal(true);
      const refused = held.ok ? held.value : undefined;
      expect(refused?.status).to.equal(409);
      expect(refused?.html).to.include('Another change to your sign-in methods is in progress. Try again.');
      expect(refused?.html).to.include('factor_change_in_progress');
      expect(await methodsLeft(customer.id), 'nothing removed').to.equal(2);
      // Once the other change has ended, the same form goes through.
      const removed = await post(browser, forms[0]);
      expect(removed.status).to.equal(303);
      expect(removed.headers.get('location')).to.equal('/account?done=factor_removed');
      expect(await methodsLeft(customer.id)).to.equal(1);
      expect(await backupFactor().isEnrolled(customer.id), 'one method left: the recovery codes stay').to.equal(true);
    } finally {
      await otherServer.close();
    }
  });
});
