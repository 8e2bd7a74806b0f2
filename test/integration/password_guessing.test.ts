/**
 * Threat: online password guessing at the login page — sequential or as a parallel burst, against a registered
 * email or to find out which emails are registered — and a flood of logins that would starve the server of the
 * threads the 19 MiB Argon2id checks run on.
 */
import { expect } from 'chai';
import { createAccount } from '../../src/accounts/accounts.ts';
import { passwordInternals } from '../../src/accounts/passwords.ts';
import { MAX_CONCURRENT_PASSWORD_CHECKS, PASSWORD_ATTEMPT_POLICY, resetLoginThrottle } from '../../src/accounts/login_throttle.ts';
import { freezeClock, type FrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, useShop, type Form, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

const BUDGET = PASSWORD_ATTEMPT_POLICY.failuresPerLockout;
const WAIT_ONE_MINUTE = 'Too many attempts. Try again in 1 minute.';
const INCORRECT = 'Email or password is incorrect.';

describe('password guessing at the login page', function () {
  const server = useTestServer('password_guessing');
  const shop = useShop(server);
  let clock: FrozenClock | undefined;
  const originalDerive = passwordInternals.derive;
  let accountCounter = 0;

  afterEach(function () {
    passwordInternals.derive = originalDerive;
    clock?.uninstall();
    clock = undefined;
  });

  /** A registered account of its own per test, so counters never carry over between tests. */
  async function newAccount(): Promise<{ email: string; password: string }> {
    accountCounter += 1;
    const email = `guess-${accountCounter}@example.com`;
    const password = `right-password-${accountCounter}`;
    await createAccount(server.conn, { email, password, name: `Guess ${accountCounter}` });
    return { email, password };
  }

  async function openLogin(): Promise<{ browser: Browser; form: Form }> {
    const browser = new Browser(['http://localhost:7777/']);
    const pending = await shop.startLogin();
    const page = await browser.go(pending.url.href);
    expect(page.status).to.equal(200);
    return { browser, form: findForm(page, '/login') };
  }

  async function attempt(email: string, password: string): Promise<Page> {
    const { browser, form } = await openLogin();
    return browser.submit(form, { email, password });
  }

  function signedIn(page: Page): boolean {
    return page.status === 0 && new URL(page.url).searchParams.get('code') !== null;
  }

  /** Counts the password checks (hash derivations) and the most that ran at once. */
  function countPasswordChecks(): { total: number; maxInFlight: number } {
    const stats = { total: 0, maxInFlight: 0 };
    let inFlight = 0;
    passwordInternals.derive = async (...args) => {
      stats.total += 1;
      inFlight += 1;
      stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
      try {
        return await originalDerive(...args);
      } finally {
        inFlight -= 1;
      }
    };
    return stats;
  }

  /**
   * The page without what differs per response by design (CSP nonce, interaction id — also in the language switch's
   * return address —, CSRF token, the echoed email).
   */
  function comparable(page: Page, email: string): string {
    return page.html
      .replace(/nonce="[^"]*"/g, 'nonce=""')
      .replace(/\/interaction\/[A-Za-z0-9_-]+\//g, '/interaction/UID/')
      .replace(/%2Finteraction%2F[A-Za-z0-9_-]+/g, '%2Finteraction%2FUID')
      .replace(/name="csrf" value="[^"]*"/g, 'name="csrf" value=""')
      .replace(`value="${email}"`, 'value=""');
  }

  it('a burst of wrong passwords in parallel cannot exceed the attempt budget', async function () {
    const { email, password } = await newAccount();
    const { browser, form } = await openLogin();
    const checks = countPasswordChecks();
    const pages = await Promise.all(Array.from({ length: 20 }, (_, i) => browser.submit(form, { email, password: `wrong-guess-${i}` })));

    expect(checks.total, 'password checks run').to.equal(BUDGET);
    for (const page of pages) expect(page.status).to.be.oneOf([401, 429]);
    expect(pages.filter((page) => page.status === 429).length).to.be.at.least(20 - BUDGET);

    const right = await attempt(email, password);
    expect(right.status).to.equal(429);
    expect(right.html).to.include(WAIT_ONE_MINUTE);
    expect(checks.total, 'a locked attempt checks no password').to.equal(BUDGET);
  });

  it('after the budget the right password is refused with the wait until the lockout passes, then works', async function () {
    clock = freezeClock();
    const { email, password } = await newAccount();
    for (let i = 1; i < BUDGET; i += 1) {
      const page = await attempt(email, `wrong-${i}`);
      expect(page.status, `failure ${i}`).to.equal(401);
      expect(page.html).to.include(INCORRECT);
    }
    const last = await attempt(email, 'wrong-last');
    expect(last.status, 'the failure that spends the budget').to.equal(429);
    expect(last.html).to.include(WAIT_ONE_MINUTE);

    const refused = await attempt(email, password);
    expect(refused.status).to.equal(429);
    expect(refused.html).to.include(WAIT_ONE_MINUTE);
    expect(refused.headers.get('retry-after')).to.equal('60');
    expect(findForm(refused, '/login').fields.email, 'the form is shown again').to.equal(email);

    clock.tick(59_000);
    const stillRefused = await attempt(email, password);
    expect(stillRefused.status).to.equal(429);
    expect(stillRefused.headers.get('retry-after')).to.equal('1');

    clock.tick(1_000);
    expect(signedIn(await attempt(email, password)), 'signed in once the lockout is over').to.equal(true);
  });

  it('the wait grows after a second lockout and says so in minutes', async function () {
    clock = freezeClock();
    const { email, password } = await newAccount();
    for (let i = 0; i < BUDGET; i += 1) await attempt(email, `wrong-${i}`);
    clock.tick(60_000);
    for (let i = 0; i < BUDGET; i += 1) await attempt(email, `wrong-again-${i}`);
    const refused = await attempt(email, password);
    expect(refused.status).to.equal(429);
    expect(refused.html).to.include('Too many attempts. Try again in 2 minutes.');
  });

  it('an unknown email is locked out exactly like a registered one (same status and message)', async function () {
    const known = await newAccount();
    const unknown = `nobody-${accountCounter}@example.com`;
    const knownPages: Page[] = [];
    const unknownPages: Page[] = [];
    for (let i = 0; i <= BUDGET; i += 1) {
      knownPages.push(await attempt(known.email, `wrong-${i}`));
      unknownPages.push(await attempt(unknown, `wrong-${i}`));
    }
    expect(unknownPages.map((page) => page.status)).to.deep.equal(knownPages.map((page) => page.status));
    expect(knownPages.at(-1)?.status).to.equal(429);
    knownPages.forEach((page, i) => {
      const other = unknownPages[i] as Page;
      expect(comparable(other, unknown), `answer ${i + 1}`).to.equal(comparable(page, known.email));
      expect(other.headers.get('retry-after')).to.equal(page.headers.get('retry-after'));
    });
    expect(unknownPages.at(-1)?.html).to.include(WAIT_ONE_MINUTE);
  });

  it('the lockout follows the email whatever its letter case or surrounding spaces', async function () {
    const { email, password } = await newAccount();
    for (let i = 0; i < BUDGET; i += 1) await attempt(i % 2 === 0 ? email.toUpperCase() : ` ${email} `, `wrong-${i}`);
    const refused = await attempt(email, password);
    expect(refused.status).to.equal(429);
  });

  it('a success resets the counter', async function () {
    const { email, password } = await newAccount();
    for (let i = 1; i < BUDGET; i += 1) expect((await attempt(email, `wrong-${i}`)).status).to.equal(401);
    expect(signedIn(await attempt(email, password))).to.equal(true);
    for (let i = 1; i < BUDGET; i += 1) {
      const page = await attempt(email, `wrong-after-${i}`);
      expect(page.status, `failure ${i} after the success`).to.equal(401);
    }
    expect(signedIn(await attempt(email, password))).to.equal(true);
  });

  it('a flood of logins never runs more than the allowed password checks at once', async function () {
    const checks = countPasswordChecks();
    const logins = await Promise.all(Array.from({ length: 12 }, () => openLogin()));
    const pages = await Promise.all(
      logins.map(({ browser, form }, i) => browser.submit(form, { email: `flood-${i}@example.com`, password: 'flood-password' })),
    );
    for (const page of pages) expect(page.status).to.equal(401);
    expect(checks.total).to.equal(12);
    expect(checks.maxInFlight).to.be.at.most(MAX_CONCURRENT_PASSWORD_CHECKS);
  });

  it("support's reset lifts an email's lockout", async function () {
    const { email, password } = await newAccount();
    for (let i = 0; i < BUDGET; i += 1) await attempt(email, `wrong-${i}`);
    expect((await attempt(email, password)).status).to.equal(429);
    expect(await resetLoginThrottle(server.conn, server.provider, ` ${email.toUpperCase()}`)).to.equal(true);
    expect(signedIn(await attempt(email, password))).to.equal(true);
  });

  it('stores no email address with the attempt counters', async function () {
    const { email } = await newAccount();
    await attempt(email, 'wrong');
    const docs = await server.conn.collection('factor_attempts').find({ bucket: 'password' }).toArray();
    expect(docs.length).to.be.at.least(1);
    expect(JSON.stringify(docs)).to.not.include('@');
  });
});
