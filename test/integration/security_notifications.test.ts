import { expect } from 'chai';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createCompany } from '../../src/accounts/companies.ts';
import { listEvents, type AuditEvent, type AuditEventName } from '../../src/audit/audit_log.ts';
import type { Factor } from '../../src/factors/contract.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { ACR } from '../../src/policy/acr.ts';
import { recoveryCodesOn, signInConsole, submitWithReauth, type Customer } from '../console/support.ts';
import { enrolTotp, wrongCode } from '../factors/support.ts';
import { startSmtp, type ReceivedMail, type TestSmtp } from '../mail/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, parseForms, useShop, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { english } from '../helpers/words.ts';
import { isChallenge, manualKeyOf, nextCode, submitCode } from '../helpers/step_up.ts';

/**
 * Security notifications end to end: each notification arrives (through SMTP) for each event, and an audit record
 * exists (OWASP ASVS 2.5.5). Every event is caused through the product's own pages over HTTP (login, challenge,
 * security console, company admin pages); the mail is received by an in-process SMTP server and parsed with mailparser;
 * the audit record names the right actor; neither carries a secret (code, TOTP secret, recovery code).
 */
const SHOP = 'http://localhost:7777/';
const ISSUER_NAME = 'Notify Test Shop';
const INVOICE = { scope: 'openid invoice' };

describe('security notifications: each event mails the account holder through SMTP and is audited', function () {
  let smtp: TestSmtp;
  before(async function () {
    smtp = await startSmtp();
  });
  const server = useTestServer('security_notifications', () => ({ env: { SMTP_URL: smtp.url, ISSUER_NAME }, mailer: 'config' }));
  const shop = useShop(server);
  // One clock for the whole file, only ever moved forward: each accepted TOTP step stays used.
  const clock = useFrozenClock();
  let app: Factor;
  let totp: TotpFactor;
  /** The recovery codes nina was shown when she enrolled the app in the login (test 1), for test 2. */
  let ninaRecoveryCodes: string[] = [];

  before(async function () {
    app = server.factors.all.find((factor) => factor.role === 'primary' && factor.enrol && !factor.challenge) as Factor;
    totp = app as TotpFactor;
    expect(app, 'the authenticator app is registered').to.not.equal(undefined);
  });
  after(async function () {
    await smtp?.close();
  });

  // ── helpers ────────────────────────────────────────────────────────────────────────────────────────────────────

  function recipientsOf(mail: ReceivedMail): string[] {
    const to = mail.parsed.to;
    const list = Array.isArray(to) ? to : to ? [to] : [];
    return list.flatMap((address) => address.value.map((entry) => entry.address ?? ''));
  }

  /** Every message received for `address` (envelope or header). */
  function mailsTo(address: string): ReceivedMail[] {
    return smtp.received.filter((mail) => mail.envelopeTo.includes(address) || recipientsOf(mail).includes(address));
  }

  /**
   * The one message to `address` whose subject is `subject`. The product sends it before it answers the request;
   * a short grace period (real timers: only `Date` is frozen) keeps a slow SMTP hand-off from failing the test.
   */
  async function theMail(address: string, subject: string): Promise<ReceivedMail> {
    const deadline = performance.now() + 3_000;
    let found = mailsTo(address).filter((mail) => mail.parsed.subject === subject);
    while (found.length === 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      found = mailsTo(address).filter((mail) => mail.parsed.subject === subject);
    }
    const seen = mailsTo(address).map((mail) => mail.parsed.subject);
    expect(found, `exactly one "${subject}" mail to ${address}; received: ${JSON.stringify(seen)}`).to.have.length(1);
    const mail = found[0] as ReceivedMail;
    expect(mail.envelopeTo, 'SMTP envelope: the account holder only').to.deep.equal([address]);
    expect(recipientsOf(mail), 'To header').to.deep.equal([address]);
    return mail;
  }

  /** The plain-text part with the lines joined (nothing in a notification is meant to be split). */
  function textOf(mail: ReceivedMail): string {
    return String(mail.parsed.text ?? '');
  }

  /** No secret anywhere in the message (raw source, text and HTML parts, spaces ignored for grouped keys). */
  function expectNoSecrets(mail: ReceivedMail, secrets: string[]): void {
    const html = typeof mail.parsed.html === 'string' ? mail.parsed.html : '';
    const surfaces = [mail.raw, textOf(mail), html, mail.raw.replace(/\s+/g, ''), textOf(mail).replace(/\s+/g, '')];
    for (const secret of secrets) {
      expect(secret.length, 'a secret to look for').to.be.greaterThan(3);
      for (const surface of surfaces) expect(surface, `the mail must not contain the secret ${secret}`).to.not.include(secret);
    }
  }

  /** The one audit record of `event` for `accountId`, with no secret in it. */
  async function theRecord(accountId: string, event: AuditEventName, secrets: string[]): Promise<AuditEvent> {
    const records = (await listEvents(server.conn, accountId, { limit: 200 })).filter((record) => record.event === event);
    expect(records, `exactly one ${event} record for ${accountId}`).to.have.length(1);
    const record = records[0] as AuditEvent;
    const stored = JSON.stringify(record);
    for (const secret of secrets) expect(stored, `the audit record must not contain the secret ${secret}`).to.not.include(secret);
    // a mail went out for it: no "notification_failed" record points at it
    const failed = (await listEvents(server.conn, accountId, { limit: 200 })).filter((entry) => entry.event === 'notification_failed');
    expect(failed.map((entry) => entry.details?.eventId)).to.not.include(record.id);
    return record;
  }

  /** What every notification says: greeting, when (the frozen now), from where, and the link to the settings. */
  function expectContext(mail: ReceivedMail, record: AuditEvent, name: string): void {
    const text = textOf(mail);
    expect(text).to.include(`Hello ${name},`);
    expect(text).to.include(`When: ${english.formatTime(record.at)}`);
    expect(text).to.include('IP address: 127.0.0.1');
    expect(text).to.include(`${server.issuer}/account`);
    expect(text).to.include(`This is an automatic security message from ${ISSUER_NAME}.`);
  }

  function isChoice(page: Page): boolean {
    return parseForms(page).some((form) => new URL(form.action).pathname.endsWith('/enrol/method'));
  }

  async function passwordStep(browser: Browser, account: { email: string; password: string }, params: Record<string, string>) {
    const pending = await shop.startLogin(params);
    const loginPage = await browser.go(pending.url.href);
    const page = await browser.submit(findForm(loginPage, '/login'), { email: account.email, password: account.password });
    return { pending, page };
  }

  function scopesOf(tokens: { scope?: string }): string[] {
    return (tokens.scope ?? '').split(' ').filter(Boolean);
  }

  /** A customer with an authenticator app set up (at the current step: codes must come from a later one). */
  async function customerWithApp(name: string, extra: { companyId?: string; companyRole?: 'admin' } = {}): Promise<Customer & { name: string }> {
    const email = `${name.toLowerCase().replace(/\W+/g, '.')}@example.com`;
    const password = `${name.toLowerCase().replace(/\W+/g, '')}-password-5`;
    const created = await createAccount(server.conn, { email, password, name, ...extra });
    const customer: Customer & { name: string } = { id: created.id, email, password, name };
    customer.totpSecret = await enrolTotp(totp, customer);
    return customer;
  }

  /** Submits a console form; when the console first asks for re-authentication, passes it and submits again. */
  async function submitConsoleChange(browser: Browser, page: Page, formId: string, customer: Customer): Promise<Page> {
    const { page: landed, reauthenticated } = await submitWithReauth(browser, page, formId, customer, clock);
    return reauthenticated ? browser.submit(findForm(landed, formId)) : landed;
  }

  // ── the six events ─────────────────────────────────────────────────────────────────────────────────────────────

  it('factor_added: the invoice customer who sets up the app during the login is mailed "method added", audited as herself', async function () {
    const nina = server.mfaAccounts.nina;
    const browser = new Browser([SHOP]);
    const { pending, page: choice } = await passwordStep(browser, nina, INVOICE);
    expect(isChoice(choice), `expected the method choice, got ${choice.status}:\n${choice.html.slice(0, 600)}`).to.equal(true);
    const qrPage = await browser.submit(findForm(choice, '/enrol/method'), { method: app.id });
    const secret = manualKeyOf(qrPage);
    expect(mailsTo(nina.email), 'nothing mailed before the method is confirmed').to.have.length(0);

    const code = await nextCode(clock, secret);
    const codesPage = await browser.submit(findForm(qrPage, '/enrol'), { code });
    expect(codesPage.status).to.equal(200);
    expect(codesPage.html).to.include('successfully set up');
    ninaRecoveryCodes = recoveryCodesOn(codesPage);
    expect(ninaRecoveryCodes).to.have.length(10);

    const mail = await theMail(nina.email, `A sign-in method was added to your ${ISSUER_NAME} account`);
    const text = textOf(mail);
    expect(text).to.include(`${english.t(app.label)} was added as a way to confirm your sign-ins to ${ISSUER_NAME}.`);
    expect(text).to.include(`Method: ${english.t(app.label)}`);
    expect(text).to.include("If this wasn't you");
    const secrets = [secret, code, ...ninaRecoveryCodes];
    expectNoSecrets(mail, secrets);

    const record = await theRecord(nina.id, 'factor_added', secrets);
    expect(record.actor).to.deep.equal({ type: 'user', id: nina.id });
    expect(record.at.getTime(), 'recorded at the (frozen) time of the confirmation').to.equal(Date.now());
    expect(record.clientId).to.equal(server.clients.firstParty.clientId);
    expect(record.details).to.include({ method: app.label });
    expectContext(mail, record, nina.name);

    // the login itself goes on to the shop with invoice
    const done = await browser.submit(findForm(codesPage, '/mfa/continue'));
    expect(done.status).to.equal(0);
    expect(scopesOf(await shop.finishLogin(pending, done.url))).to.include('invoice');
  });

  it('recovery_code_used: signing in with one of those recovery codes mails how many remain, audited as the customer', async function () {
    const nina = server.mfaAccounts.nina;
    const used = ninaRecoveryCodes[0];
    if (!used) throw new Error('no recovery codes: the factor_added test must run first (it shows them)');
    clock.tick(60_000);
    const browser = new Browser([SHOP]);
    const { pending, page: challenge } = await passwordStep(browser, nina, INVOICE);
    expect(isChallenge(challenge), `expected the challenge, got ${challenge.status}:\n${challenge.html.slice(0, 600)}`).to.equal(true);
    const link = /href="([^"]*\?method=[^"]+)">Use a recovery code/.exec(challenge.html)?.[1];
    if (!link) throw new Error(`no "Use a recovery code" link:\n${challenge.html.slice(0, 1500)}`);
    const recoveryPage = await browser.go(new URL(link.replace(/&amp;/g, '&'), server.issuer).href);
    const recovered = await submitCode(browser, recoveryPage, used);
    expect(recovered.html).to.include('You have 9 recovery codes left');
    const done = await browser.submit(findForm(recovered, 'continue-form'));
    expect(done.status, done.html.slice(0, 600)).to.equal(0);
    expect(scopesOf(await shop.finishLogin(pending, done.url))).to.include('invoice');

    const mail = await theMail(nina.email, `A recovery code was used for your ${ISSUER_NAME} account`);
    const text = textOf(mail);
    expect(text).to.include(`One of your recovery codes was used to sign in to ${ISSUER_NAME}.`);
    expect(text).to.include('You have 9 recovery codes left.');
    expect(text).to.include('Recovery codes left: 9');
    expectNoSecrets(mail, ninaRecoveryCodes);

    const record = await theRecord(nina.id, 'recovery_code_used', ninaRecoveryCodes);
    expect(record.actor).to.deep.equal({ type: 'user', id: nina.id });
    expect(record.at.getTime()).to.equal(Date.now());
    expect(record.details).to.include({ remaining: 9 });
    expectContext(mail, record, nina.name);
  });

  it('account_locked: the fifth wrong code on the challenge starts the lock, mailed with its end and audited as the system', async function () {
    const carol = server.mfaAccounts.carol;
    const secret = server.totpSecrets.carol;
    clock.tick(60_000);
    const browser = new Browser([SHOP]);
    let { page } = await passwordStep(browser, carol, { acr_values: ACR.mfa });
    expect(isChallenge(page)).to.equal(true);
    const wrong: string[] = [];
    // DEFAULT_ATTEMPT_POLICY.failuresPerLockout: four failures are only failures …
    for (let i = 0; i < 4; i += 1) {
      wrong.push(await wrongCode(secret));
      page = await submitCode(browser, page, wrong[i] as string);
      expect(page.status, `failure ${i + 1}`).to.equal(400);
    }
    expect(mailsTo(carol.email), 'no lock mail before the lock').to.have.length(0);
    // … the fifth locks the second factor for a minute
    wrong.push(await wrongCode(secret));
    const challenge = page;
    page = await submitCode(browser, page, wrong[4] as string);
    expect(page.status).to.equal(429);
    expect(page.html).to.match(/Try again in \d+ minutes?/);
    const lockedAt = Date.now();

    const mail = await theMail(carol.email, `Your ${ISSUER_NAME} sign-in was locked after failed attempts`);
    const text = textOf(mail);
    expect(text).to.include(`Too many wrong codes were entered while signing in to your ${ISSUER_NAME} account, so confirming sign-ins is locked for now.`);
    expect(text).to.include(`Locked until: ${english.formatTime(new Date(lockedAt + 60_000))}`);
    expect(text).to.include('Failed attempts: 5');
    expect(text).to.include("If these attempts weren't yours");
    const secrets = [secret, ...wrong];
    expectNoSecrets(mail, secrets);

    const record = await theRecord(carol.id, 'account_locked', secrets);
    expect(record.actor, 'a lockout is the system\'s doing').to.deep.equal({ type: 'system' });
    expect(record.at.getTime()).to.equal(lockedAt);
    expect((record.details?.until as Date | undefined)?.getTime()).to.equal(lockedAt + 60_000);
    expectContext(mail, record, carol.name);

    // a sixth wrong code while locked is refused and does not mail again
    page = await submitCode(browser, challenge, await wrongCode(secret));
    expect(page.status).to.equal(429);
    expect(mailsTo(carol.email)).to.have.length(1);
  });

  it('factor_removed: removing the app in the security console mails "method removed", audited as the customer', async function () {
    const ivan = server.mfaAccounts.ivan;
    const customer: Customer = { ...ivan, totpSecret: server.totpSecrets.ivan };
    clock.tick(60_000);
    const browser = new Browser();
    await signInConsole(server, browser, customer, clock);
    const confirm = await browser.go(`${server.issuer}/account/methods/${app.id}/remove`);
    expect(confirm.status).to.equal(200);
    expect(confirm.html).to.include('Are you sure?');
    const done = await submitConsoleChange(browser, confirm, 'remove-form', customer);
    expect(done.url).to.equal(`${server.issuer}/account?done=factor_removed_invoice`);
    expect(await app.isEnrolled(ivan.id)).to.equal(false);

    const mail = await theMail(ivan.email, `A sign-in method was removed from your ${ISSUER_NAME} account`);
    const text = textOf(mail);
    expect(text).to.include(`${english.t(app.label)} was removed from your ${ISSUER_NAME} account and can no longer be used to confirm your sign-ins.`);
    expect(text).to.include(`Method: ${english.t(app.label)}`);
    const secrets = [server.totpSecrets.ivan];
    expectNoSecrets(mail, secrets);

    const record = await theRecord(ivan.id, 'factor_removed', secrets);
    expect(record.actor).to.deep.equal({ type: 'user', id: ivan.id });
    expect(record.at.getTime()).to.equal(Date.now());
    expect(record.details).to.include({ factorId: app.id, method: app.label });
    expectContext(mail, record, ivan.name);
  });

  it('recovery_codes_regenerated: new recovery codes in the security console are mailed (without them), audited as the customer', async function () {
    const rhea = await customerWithApp('Rhea Renew');
    clock.tick(60_000);
    const browser = new Browser();
    await signInConsole(server, browser, rhea, clock);
    const confirm = await browser.go(`${server.issuer}/account/recovery-codes`);
    expect(confirm.status).to.equal(200);
    const codesPage = await submitConsoleChange(browser, confirm, 'regenerate-form', rhea);
    const codes = recoveryCodesOn(codesPage);
    expect(codes, codesPage.html.slice(0, 600)).to.have.length(10);

    const mail = await theMail(rhea.email, `New recovery codes were created for your ${ISSUER_NAME} account`);
    const text = textOf(mail);
    expect(text).to.include(`A new set of recovery codes was created for your ${ISSUER_NAME} account. Your earlier recovery codes no longer work.`);
    const secrets = [rhea.totpSecret as string, ...codes];
    expectNoSecrets(mail, secrets);

    const record = await theRecord(rhea.id, 'recovery_codes_regenerated', secrets);
    expect(record.actor).to.deep.equal({ type: 'user', id: rhea.id });
    expect(record.at.getTime()).to.equal(Date.now());
    expect(record.details).to.include({ count: 10 });
    expectContext(mail, record, rhea.name);
  });

  it('factors_reset: a company admin resetting a member mails the member (not the admin), audited with the admin as actor', async function () {
    const company = await createCompany(server.conn, { name: 'Notify Corp', mfaPolicy: 'opt_in' });
    const admin = await customerWithApp('Ada Notify', { companyId: company.id, companyRole: 'admin' });
    const member = await customerWithApp('Max Member', { companyId: company.id });
    clock.tick(60_000);
    const browser = new Browser();
    const overview = await signInConsole(server, browser, admin, clock);
    expect(overview.html).to.include('id="company-link"');
    const confirm = await browser.go(`${server.issuer}/account/company/members/${member.id}/reset`);
    expect(confirm.status).to.equal(200);
    expect(confirm.html).to.include('Are you sure?');
    const done = await submitConsoleChange(browser, confirm, 'reset-form', admin);
    expect(done.url).to.equal(`${server.issuer}/account/company?done=factors_reset`);
    expect(await server.factors.hasPrimaryFactor(member.id)).to.equal(false);

    const mail = await theMail(member.email, `Your ${ISSUER_NAME} two-factor authentication (2FA) was reset`);
    const text = textOf(mail);
    expect(text).to.include('All your two-factor authentication (2FA) methods were removed by your company administrator.');
    expect(text).to.include('Reset by: your company administrator');
    const secrets = [member.totpSecret as string, admin.totpSecret as string];
    expectNoSecrets(mail, secrets);
    expect(mailsTo(admin.email), 'the admin gets no mail about the member').to.have.length(0);

    const record = await theRecord(member.id, 'factors_reset', secrets);
    expect(record.actor).to.deep.equal({ type: 'admin', id: admin.id });
    expect(record.at.getTime()).to.equal(Date.now());
    expect(record.details).to.include({ by: 'admin' });
    expect(record.details?.removed).to.include(app.id);
    expectContext(mail, record, member.name);
  });
});
