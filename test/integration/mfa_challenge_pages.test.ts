import { expect } from 'chai';
import { createAccount } from '../../src/accounts/accounts.ts';
import { listEvents } from '../../src/audit/audit_log.ts';
import { ACR } from '../../src/policy/acr.ts';
import { ATTEMPT_LEASE_MS } from '../../src/factors/shared/attempts.ts';
import { wrongCode } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, useShop, type Page } from '../helpers/shop.ts';
import { useTestServer, type TestAccount } from '../helpers/server.ts';
import { isChallenge, manualKeyOf, nextCode, submitCode } from '../helpers/step_up.ts';
import { lastCodeMailedTo } from '../helpers/mail.ts';

/** The second-factor pages: CSRF, clear messages for expected failures (never a 500), notifications and audit. */
const SHOP = 'http://localhost:7777/';

describe('second-factor pages: failures, CSRF and security notifications', function () {
  const server = useTestServer('mfa_challenge_pages', { mailer: 'config' });
  const shop = useShop(server);
  const clock = useFrozenClock();

  async function password(browser: Browser, account: TestAccount): Promise<Page> {
    const pending = await shop.startLogin();
    const loginPage = await browser.go(pending.url.href);
    return browser.submit(findForm(loginPage, '/login'), { email: account.email, password: account.password });
  }

  function mailsTo(email: string): { subject: string }[] {
    return [...(server.mailer?.outbox() ?? [])].filter((mail) => mail.to.includes(email));
  }

  it('refuses a code form without the CSRF token (403), and the code is not checked', async function () {
    const browser = new Browser([SHOP]);
    const page = await password(browser, server.mfaAccounts.fred);
    const code = await nextCode(clock, server.totpSecrets.fred);
    const refused = await browser.submit(findForm(page, '/mfa'), { csrf: 'forged', code });
    expect(refused.status).to.equal(403);
    // the code was not checked (nor used up): with the page's token it completes the step-up
    const done = await submitCode(browser, page, code);
    expect(done.status).to.equal(0);
  });

  it('a replayed code says so; five wrong codes lock with the time to wait (429), mailed and audited', async function () {
    const browser = new Browser([SHOP]);
    let page = await password(browser, server.mfaAccounts.fred);
    const code = await nextCode(clock, server.totpSecrets.fred);
    const other = new Browser([SHOP]);
    const done = await submitCode(other, await password(other, server.mfaAccounts.fred), code);
    expect(done.status).to.equal(0);
    // That success had nothing to reset: its reservation holds a unit of the budget until its lease runs out.
    clock.tick(ATTEMPT_LEASE_MS);
    page = await submitCode(browser, page, code);
    expect(page.status).to.equal(400);
    expect(page.html).to.include('already used');

    for (let i = 0; i < 5 && page.status !== 429; i += 1) page = await submitCode(browser, page, await wrongCode(server.totpSecrets.fred));
    expect(page.status).to.equal(429);
    expect(page.html).to.match(/Try again in \d+ minutes?/);
    // the lockout page offers only what still works: no code field for the locked app, a way back after the wait
    expect(page.html).to.include('Too many wrong codes').and.include('id="retry"').and.include('id="support"');
    expect(isChallenge(page)).to.equal(false);
    expect(mailsTo(server.mfaAccounts.fred.email).length).to.be.greaterThan(0);
    const events = await listEvents(server.conn, server.mfaAccounts.fred.id);
    expect(events.map((event) => event.event)).to.include('account_locked');
  });

  it('enrolment during login mails "method added" and writes the audit event', async function () {
    const browser = new Browser([SHOP]);
    // with email codes available, the forced company member chooses a method first: the app
    const choice = await password(browser, server.mfaAccounts.gina);
    const app = server.factors.all.find((factor) => factor.role === 'primary' && factor.enrol && !factor.challenge);
    const page = await browser.submit(findForm(choice, '/enrol/method'), { method: app?.id });
    const codesPage = await browser.submit(findForm(page, '/enrol'), { code: await nextCode(clock, manualKeyOf(page)) });
    expect(codesPage.html).to.include('successfully set up');
    expect(mailsTo(server.mfaAccounts.gina.email).some((mail) => /added/i.test(mail.subject))).to.equal(true);
    const events = await listEvents(server.conn, server.mfaAccounts.gina.id);
    expect(events.map((event) => event.event)).to.include('factor_added');
  });


  it('an email-code customer: "send code" shows the masked address, the mailed code steps up to level 2 only', async function () {
    const email = 'emma@example.com';
    const created = await createAccount(server.conn, { email, password: 'emma-password-4', name: 'Emma Email' });
    const factor = server.factors.all.find((candidate) => candidate.challenge && candidate.enrol);
    const begun = await factor?.enrol?.begin({ id: created.id, email });
    expect(begun?.ok).to.equal(true);
    expect((await factor?.enrol?.confirm?.(created.id, lastCodeMailedTo(server, email)))?.ok).to.equal(true);

    const browser = new Browser([SHOP]);
    const pending = await shop.startLogin({ acr_values: ACR.mfa });
    const loginPage = await browser.go(pending.url.href);
    const challenge = await browser.submit(findForm(loginPage, '/login'), { email, password: 'emma-password-4' });
    expect(challenge.html).to.include('e•••@example.com');
    clock.tick(60_000);
    const sent = await browser.submit(findForm(challenge, '/mfa/send'));
    expect(sent.status).to.equal(200);
    expect(sent.html).to.include('A code was sent');
    const done = await submitCode(browser, sent, lastCodeMailedTo(server, email));
    expect(done.status).to.equal(0);
    const claims = (await shop.finishLogin(pending, done.url)).claims();
    expect(claims?.acr).to.equal(ACR.mfa);
    expect(claims?.amr).to.include('otp').and.include('mfa').and.include('pwd');

    // level 3 cannot be met by an email code: with the email code just proven, the customer may add an authenticator
    // app (confirming the password first), and nothing reaches the shop at level 3 meanwhile
    const strong = await shop.startLogin({ acr_values: ACR.mfaApp });
    const upgrade = await browser.go(strong.url.href);
    expect(upgrade.status).to.equal(200);
    expect(upgrade.html).to.include('Confirm your password');
  });

  it('a recovery code sign-in mails "recovery code used" and is audited', async function () {
    const codes = await (server.factors.all.find((factor) => factor.role === 'backup') as unknown as { generate(id: string): Promise<string[]> })
      .generate(server.mfaAccounts.ivan.id);
    const browser = new Browser([SHOP]);
    const page = await password(browser, server.mfaAccounts.ivan);
    // ivan has no reason to step up on a plain login: ask for mfa
    expect(page.status).to.equal(0);
    const pending = await shop.startLogin({ acr_values: ACR.mfa });
    const challenge = await browser.go(`${pending.url.href}`);
    const link = /href="([^"]*\?method=[^"]+)">Use a recovery code/.exec(challenge.html)?.[1] as string;
    const recoveryPage = await browser.go(new URL(link.replace(/&amp;/g, '&'), server.issuer).href);
    const recovered = await browser.submit(findForm(recoveryPage, '/mfa'), { code: codes[0] });
    expect(recovered.html).to.include('You have 9 recovery codes left');
    const done = await browser.submit(findForm(recovered, 'continue-form'));
    expect(done.status).to.equal(0);
    expect(mailsTo(server.mfaAccounts.ivan.email).some((mail) => /recovery code/i.test(mail.subject))).to.equal(true);
    const events = await listEvents(server.conn, server.mfaAccounts.ivan.id);
    expect(events.map((event) => event.event)).to.include('recovery_code_used');
  });
});
