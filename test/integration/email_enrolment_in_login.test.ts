import { expect } from 'chai';
import * as oidc from 'openid-client';
import { createAccount } from '../../src/accounts/accounts.ts';
import { listEvents } from '../../src/audit/audit_log.ts';
import type { Factor } from '../../src/factors/contract.ts';
import { emailFactorModel } from '../../src/factors/email/model.ts';
import { ACR } from '../../src/policy/acr.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, parseForms, useShop, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { manualKeyOf, nextCode } from '../helpers/step_up.ts';

/**
 * Enrolment inside the login, with both methods on offer (authenticator app, email codes): an invoice customer without
 * a second factor chooses the app or email codes; email is confirmed with a mailed code, and until then nothing about
 * the account changes.
 */
const SHOP = 'http://localhost:7777/';
const INVOICE = { scope: 'openid email invoice' };

interface Customer {
  id: string;
  email: string;
  password: string;
}

function scopesOf(tokens: { scope?: string }): string[] {
  return (tokens.scope ?? '').split(' ').filter(Boolean);
}

function isChoice(page: Page): boolean {
  return parseForms(page).some((form) => new URL(form.action).pathname.endsWith('/enrol/method'));
}

function chooseAnotherLink(page: Page, issuer: string): string {
  const href = /href="([^"]*\?enrol=choose)">Choose another method/.exec(page.html)?.[1];
  if (!href) throw new Error(`no "choose another method" link:\n${page.html.slice(0, 1500)}`);
  return new URL(href.replace(/&amp;/g, '&'), issuer).href;
}

describe('email-code enrolment inside the login', function () {
  const server = useTestServer('email_enrolment_in_login', { mailer: 'config' });
  const shop = useShop(server);
  const clock = useFrozenClock();
  let app: Factor;
  let email: Factor;
  let counter = 0;

  before(async function () {
    app = server.factors.all.find((factor) => factor.role === 'primary' && factor.enrol && !factor.challenge) as Factor;
    email = server.factors.all.find((factor) => factor.role === 'primary' && factor.challenge) as Factor;
    expect(email, 'the email factor is registered with a mailer').to.not.equal(undefined);
  });

  /** A fresh invoice customer without any second factor (like nina). */
  async function invoiceCustomer(): Promise<Customer> {
    counter += 1;
    const address = `nora${counter}@example.com`;
    const password = `nora-password-${counter}`;
    const created = await createAccount(server.conn, { email: address, password, name: `Nora ${counter}`, privileges: ['invoice'] });
    return { id: created.id, email: address, password };
  }

  function codeMailsTo(address: string): { text: string; subject: string }[] {
    return [...(server.mailer?.outbox() ?? [])].filter((mail) => mail.to.includes(address) && /code/i.test(mail.subject));
  }

  function lastCodeMailedTo(address: string): string {
    const code = /\b(\d{6})\b/.exec(codeMailsTo(address)[0]?.text ?? '')?.[1];
    if (!code) throw new Error(`no code mailed to ${address}`);
    return code;
  }

  async function passwordStep(browser: Browser, customer: Customer, params: Record<string, string> = INVOICE) {
    const pending = await shop.startLogin(params);
    const loginPage = await browser.go(pending.url.href);
    const page = await browser.submit(findForm(loginPage, '/login'), { email: customer.email, password: customer.password });
    return { pending, page };
  }

  async function chooseEmail(browser: Browser, page: Page): Promise<Page> {
    expect(isChoice(page), `expected the choice page, got ${page.status}:\n${page.html.slice(0, 800)}`).to.equal(true);
    return browser.submit(findForm(page, '/enrol/method'), { method: email.id });
  }

  it('the invoice customer chooses email: code from the mail, recovery codes, then invoice with acr level 2 and amr incl. mfa', async function () {
    const customer = await invoiceCustomer();
    const browser = new Browser([SHOP]);
    const { pending, page } = await passwordStep(browser, customer);
    expect(page.status).to.equal(200);
    expect(page.html).to.include('Authenticator app (recommended)');
    expect(page.html).to.include(`Email code to n•••@example.com`);
    expect(findForm(page, '/enrol/method').fields.method, 'the app is preselected').to.equal(app.id);

    const codePage = await chooseEmail(browser, page);
    expect(codePage.status).to.equal(200);
    expect(codePage.html).to.match(/We sent a 6-digit code to <strong id="sent-to">n•••@example.com<\/strong>/);
    expect(codePage.html).to.include('autocomplete="one-time-code"');
    expect(codeMailsTo(customer.email)).to.have.length(1);
    expect(await email.isEnrolled(customer.id), 'not active before the code').to.equal(false);

    const codesPage = await browser.submit(findForm(codePage, '/enrol'), { code: lastCodeMailedTo(customer.email) });
    expect(codesPage.status).to.equal(200);
    expect(codesPage.html).to.include('successfully set up').and.include('sent to n•••@example.com');
    expect([...codesPage.html.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)]).to.have.length(10);
    expect(await email.isEnrolled(customer.id)).to.equal(true);
    expect(await app.isEnrolled(customer.id)).to.equal(false);
    expect((await listEvents(server.conn, customer.id)).map((event) => event.event)).to.include('factor_added');

    const done = await browser.submit(findForm(codesPage, '/mfa/continue'));
    expect(done.status).to.equal(0);
    const tokens = await shop.finishLogin(pending, done.url);
    expect(scopesOf(tokens)).to.include('invoice');
    const claims = tokens.claims();
    expect(claims).to.include({ acr: ACR.mfa, sub: customer.id });
    expect(claims?.amr).to.include.members(['pwd', 'mfa', ...email.amr]);
    // Entering the code mailed to the address proved it: the address is verified from now on.
    const userinfo = await oidc.fetchUserInfo(shop.config, tokens.access_token, customer.id);
    expect(userinfo).to.include({ email: customer.email, email_verified: true });
  });

  it('a wrong code keeps nothing enrolled; the right one still works afterwards', async function () {
    const customer = await invoiceCustomer();
    const browser = new Browser([SHOP]);
    const codePage = await chooseEmail(browser, (await passwordStep(browser, customer)).page);
    const right = lastCodeMailedTo(customer.email);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    const refused = await browser.submit(findForm(codePage, '/enrol'), { code: wrong });
    expect(refused.status).to.equal(400);
    expect(refused.html).to.include('This code is not correct. Enter the code of the latest email, or send a new code.');
    expect(await email.isEnrolled(customer.id)).to.equal(false);
    expect(await server.factors.hasPrimaryFactor(customer.id)).to.equal(false);

    const codesPage = await browser.submit(findForm(refused, '/enrol'), { code: right });
    expect(codesPage.html).to.include('successfully set up');
    expect(await email.isEnrolled(customer.id)).to.equal(true);
  });

  it('"send a new code" within the cooldown is refused (429, nothing mailed); after it a new code replaces the old one', async function () {
    const customer = await invoiceCustomer();
    const browser = new Browser([SHOP]);
    const { pending, page } = await passwordStep(browser, customer);
    const codePage = await chooseEmail(browser, page);
    expect(codePage.html).to.match(/ask for a new code in \d+ seconds/);
    const first = lastCodeMailedTo(customer.email);

    clock.tick(5_000);
    const tooSoon = await browser.submit(findForm(codePage, '/enrol/send'));
    expect(tooSoon.status).to.equal(429);
    expect(tooSoon.html).to.include('data-message="resend_too_soon"').and.match(/Wait \d+ seconds/);
    expect(codeMailsTo(customer.email)).to.have.length(1);

    clock.tick(30_000);
    const resent = await browser.submit(findForm(tooSoon, '/enrol/send'));
    expect(resent.status).to.equal(200);
    expect(codeMailsTo(customer.email)).to.have.length(2);
    const second = lastCodeMailedTo(customer.email);
    if (second !== first) {
      const old = await browser.submit(findForm(resent, '/enrol'), { code: first });
      expect(old.status, 'the first code died with the resend').to.equal(400);
    }
    const codesPage = await browser.submit(findForm(resent, '/enrol'), { code: second });
    const done = await browser.submit(findForm(codesPage, '/mfa/continue'));
    expect((await shop.finishLogin(pending, done.url)).claims()?.acr).to.equal(ACR.mfa);
  });

  it('a level-3 enrolment shows no choice: the app only, email is never offered', async function () {
    const customer = await invoiceCustomer();
    const browser = new Browser([SHOP]);
    const { pending, page } = await passwordStep(browser, customer, { ...INVOICE, acr_values: ACR.mfaApp });
    expect(page.status).to.equal(200);
    expect(isChoice(page)).to.equal(false);
    expect(page.html).to.not.include('Email code').and.not.include('Choose another method');
    const secret = manualKeyOf(page);
    // a forged choice of email at level 3 is refused: the choice page again, nothing mailed
    const forged = await browser.submit(
      { id: undefined, action: findForm(page, '/enrol').action.replace(/\/enrol$/, '/enrol/method'), method: 'post', fields: { csrf: findForm(page, '/enrol').fields.csrf as string } },
      { method: email.id },
    );
    expect(forged.status).to.equal(400);
    expect(codeMailsTo(customer.email)).to.have.length(0);

    const codesPage = await browser.submit(findForm(page, '/enrol'), { code: await nextCode(clock, secret) });
    const done = await browser.submit(findForm(codesPage, '/mfa/continue'));
    const tokens = await shop.finishLogin(pending, done.url);
    expect(tokens.claims()?.acr).to.equal(ACR.mfaApp);
    expect(scopesOf(tokens)).to.include('invoice');
  });

  it('a signed-in customer (password not proven in this interaction) confirms the password before any mail; a wrong one is refused', async function () {
    const customer = await invoiceCustomer();
    const browser = new Browser([SHOP]);
    const first = await passwordStep(browser, customer, { scope: 'openid email' });
    expect(first.page.status, 'no step-up without the invoice scope').to.equal(0);
    await shop.finishLogin(first.pending, first.page.url);

    const pending = await shop.startLogin(INVOICE);
    const choicePage = await browser.go(pending.url.href);
    expect(choicePage.html).to.not.include('type="password"');
    const passwordPage = await chooseEmail(browser, choicePage);
    expect(passwordPage.status).to.equal(200);
    expect(passwordPage.html).to.include('Confirm your password').and.include('autocomplete="current-password"');
    expect(codeMailsTo(customer.email), 'nothing mailed before the password').to.have.length(0);

    const wrong = await browser.submit(findForm(passwordPage, '/enrol/password'), { password: 'not-the-password' });
    expect(wrong.status).to.equal(401);
    expect(wrong.html).to.include('The password is not correct.');
    expect(codeMailsTo(customer.email)).to.have.length(0);
    // the form to mail a code is not reachable before the password
    const skipped = await browser.submit(
      { id: undefined, action: findForm(wrong, '/enrol/password').action.replace(/\/password$/, '/send'), method: 'post', fields: { csrf: findForm(wrong, '/enrol/password').fields.csrf as string } },
    );
    expect(skipped.html).to.include('Confirm your password');
    expect(codeMailsTo(customer.email)).to.have.length(0);

    const codePage = await browser.submit(findForm(wrong, '/enrol/password'), { password: customer.password });
    expect(codePage.status).to.equal(200);
    expect(codePage.html).to.include('We sent a 6-digit code');
    const codesPage = await browser.submit(findForm(codePage, '/enrol'), { code: lastCodeMailedTo(customer.email) });
    const done = await browser.submit(findForm(codesPage, '/mfa/continue'));
    expect(done.status).to.equal(0);
    const tokens = await shop.finishLogin(pending, done.url);
    expect(tokens.claims()?.acr).to.equal(ACR.mfa);
    expect(scopesOf(tokens)).to.include('invoice');
  });

  it('a signed-in customer choosing the app also confirms the password before any QR code (no secret is shown before)', async function () {
    const customer = await invoiceCustomer();
    const browser = new Browser([SHOP]);
    const first = await passwordStep(browser, customer, { scope: 'openid email' });
    await shop.finishLogin(first.pending, first.page.url);

    const pending = await shop.startLogin(INVOICE);
    const choicePage = await browser.go(pending.url.href);
    const passwordPage = await browser.submit(findForm(choicePage, '/enrol/method'), { method: app.id });
    expect(passwordPage.html).to.include('Confirm your password').and.include('Before you set up the authenticator app');
    expect(passwordPage.html, 'no secret before the password').to.not.include('data-key=');
    // confirming the code or asking for a new QR code is refused before the password
    const csrf = findForm(passwordPage, '/enrol/password').fields.csrf as string;
    const action = findForm(passwordPage, '/enrol/password').action;
    for (const path of ['', '/renew']) {
      const skipped = await browser.submit({ id: undefined, action: action.replace(/\/password$/, path), method: 'post', fields: { csrf, code: '123456' } });
      expect(skipped.html, path || 'confirm').to.include('Confirm your password').and.not.include('data-key=');
    }
    const wrong = await browser.submit(findForm(passwordPage, '/enrol/password'), { password: 'not-the-password' });
    expect(wrong.status).to.equal(401);
    expect(wrong.html).to.not.include('data-key=');

    const qrPage = await browser.submit(findForm(wrong, '/enrol/password'), { password: customer.password });
    const secret = manualKeyOf(qrPage);
    const codesPage = await browser.submit(findForm(qrPage, '/enrol'), { code: await nextCode(clock, secret) });
    const done = await browser.submit(findForm(codesPage, '/mfa/continue'));
    expect(done.status).to.equal(0);
    const tokens = await shop.finishLogin(pending, done.url);
    expect(tokens.claims()?.amr).to.include('otp');
    expect(scopesOf(tokens)).to.include('invoice');
  });

  it('password re-confirmation is throttled like the login: five wrong passwords lock (429), the right one is refused meanwhile', async function () {
    const customer = await invoiceCustomer();
    const browser = new Browser([SHOP]);
    const first = await passwordStep(browser, customer, { scope: 'openid' });
    await shop.finishLogin(first.pending, first.page.url);
    const choicePage = await browser.go((await shop.startLogin(INVOICE)).url.href);
    let page = await chooseEmail(browser, choicePage);
    for (let i = 0; i < 5; i += 1) page = await browser.submit(findForm(page, '/enrol/password'), { password: `wrong-${i}` });
    expect(page.status).to.equal(429);
    expect(page.html).to.match(/Too many attempts\. Try again in \d+ minutes?/);
    const locked = await browser.submit(findForm(page, '/enrol/password'), { password: customer.password });
    expect(locked.status).to.equal(429);
    expect(codeMailsTo(customer.email)).to.have.length(0);
    clock.tick(2 * 60_000);
  });

  it('every enrolment form needs the CSRF token', async function () {
    const customer = await invoiceCustomer();
    const browser = new Browser([SHOP]);
    const { page } = await passwordStep(browser, customer);
    const refused = await browser.submit(findForm(page, '/enrol/method'), { csrf: 'forged', method: email.id });
    expect(refused.status).to.equal(403);
    expect(codeMailsTo(customer.email)).to.have.length(0);
  });
});

describe('email-code enrolment inside the login when the mail cannot be sent', function () {
  // Nothing listens on port 1: every SMTP send fails (connection refused).
  const server = useTestServer('email_enrolment_smtp_down', { mailer: 'config', env: { SMTP_URL: 'smtp://127.0.0.1:1' } });
  const shop = useShop(server);
  const clock = useFrozenClock();

  it('says so clearly (no 500), enrols nothing, keeps no half-written state, and the customer switches to the app', async function () {
    const email = server.factors.all.find((factor) => factor.role === 'primary' && factor.challenge) as Factor;
    const app = server.factors.all.find((factor) => factor.role === 'primary' && factor.enrol && !factor.challenge) as Factor;
    const created = await createAccount(server.conn, { email: 'olga@example.com', password: 'olga-password-7', name: 'Olga', privileges: ['invoice'] });
    const browser = new Browser([SHOP]);
    const pending = await shop.startLogin(INVOICE);
    const loginPage = await browser.go(pending.url.href);
    const choicePage = await browser.submit(findForm(loginPage, '/login'), { email: 'olga@example.com', password: 'olga-password-7' });
    expect(isChoice(choicePage)).to.equal(true);

    const failed = await browser.submit(findForm(choicePage, '/enrol/method'), { method: email.id });
    expect(failed.status).to.be.within(400, 499);
    expect(failed.html).to.include('data-message="mail_failed"').and.include('We could not send the email');
    expect(findForm(failed, '/enrol/send').fields.csrf, 'a "send code" retry').to.be.a('string');
    expect(await email.isEnrolled(created.id)).to.equal(false);
    const doc = await emailFactorModel(server.conn).findById(created.id).lean();
    expect(doc?.pending ?? null, 'no pending enrolment').to.equal(null);
    expect(doc?.code ?? null, 'no stored code').to.equal(null);

    const retried = await browser.submit(findForm(failed, '/enrol/send'));
    expect(retried.html).to.include('data-message="mail_failed"');

    const choiceAgain = await browser.go(chooseAnotherLink(retried, server.issuer));
    expect(isChoice(choiceAgain)).to.equal(true);
    const qrPage = await browser.submit(findForm(choiceAgain, '/enrol/method'), { method: app.id });
    const secret = manualKeyOf(qrPage);
    const codesPage = await browser.submit(findForm(qrPage, '/enrol'), { code: await nextCode(clock, secret) });
    expect(codesPage.html).to.include('successfully set up');
    const done = await browser.submit(findForm(codesPage, '/mfa/continue'));
    expect(done.status).to.equal(0);
    const tokens = await shop.finishLogin(pending, done.url);
    expect(tokens.claims()?.acr).to.equal(ACR.mfaApp);
    expect(scopesOf(tokens)).to.include('invoice');
    expect(await email.isEnrolled(created.id)).to.equal(false);
  });
});
