import { expect } from 'chai';
import { createAccount } from '../../src/accounts/accounts.ts';
import { accounts } from '../../src/accounts/models.ts';
import { listEvents, type AuditEvent } from '../../src/audit/audit_log.ts';
import { ACR } from '../../src/policy/acr.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, signIn, useShop, type Page } from '../helpers/shop.ts';
import { submitCode } from '../helpers/step_up.ts';
import { english, german, languages } from '../helpers/words.ts';
import { startSmtp, type ReceivedMail, type TestSmtp } from '../mail/support.ts';

/**
 * Pages and mails in the customer's language, end to end through HTTP and a real SMTP server: a mail speaks the
 * account's language (set in its security settings), else the language of the page whose request caused it; the
 * error and password reset pages speak the browser's language; API clients keep English.
 */
const SHOP = 'http://localhost:7777/';
const ISSUER_NAME = 'Sprachen Shop';

/** A browser whose every request says it reads German first. */
class GermanBrowser extends Browser {
  override request(url: string, init: { method?: string; body?: string | URLSearchParams; headers?: Record<string, string> } = {}): Promise<Page> {
    return super.request(url, { ...init, headers: { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5', ...init.headers } });
  }
}

describe('pages and mails in the customer\'s language', function () {
  let smtp: TestSmtp;
  before(async function () {
    smtp = await startSmtp();
  });
  after(async function () {
    await smtp?.close();
  });
  const server = useTestServer('languages_of_mails', () => ({ env: { SMTP_URL: smtp.url, ISSUER_NAME }, mailer: 'config' }));
  const shop = useShop(server);
  const clock = useFrozenClock();

  /** Waits for the `count`-th mail to `address` (mails of one address arrive in the order they were sent). */
  async function mailTo(address: string, count = 1): Promise<ReceivedMail> {
    const deadline = performance.now() + 5_000;
    for (;;) {
      const mails = smtp.received.filter((mail) => mail.envelopeTo.includes(address));
      if (mails.length >= count) return mails[count - 1] as ReceivedMail;
      if (performance.now() > deadline) throw new Error(`no mail #${count} to ${address}; received ${mails.length}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  function textOf(mail: ReceivedMail): string {
    return String(mail.parsed.text ?? '');
  }

  function linkIn(mail: ReceivedMail): string {
    const found = /(http:\/\/127\.0\.0\.1:\d+\/password-reset\/new\?token=[A-Za-z0-9_-]{43})/.exec(textOf(mail));
    if (!found?.[1]) throw new Error(`no reset link in:\n${textOf(mail)}`);
    return found[1];
  }

  async function theRecord(accountId: string, event: string): Promise<AuditEvent> {
    const records = (await listEvents(server.conn, accountId, { limit: 50 })).filter((record) => record.event === event);
    expect(records, `one ${event} record`).to.have.length(1);
    return records[0] as AuditEvent;
  }

  /** Asks for a reset link from `browser`, opens it and sets a new password; returns the pages on the way. */
  async function resetPassword(browser: Browser, email: string): Promise<{ request: Page; sent: Page; choose: Page; mismatch: Page; done: Page }> {
    const request = await browser.go(`${server.issuer}/password-reset`);
    expect(request.status).to.equal(200);
    const sent = await browser.submit(findForm(request, 'reset-request'), { email });
    expect(sent.status).to.equal(200);
    const choose = await browser.go(linkIn(await mailTo(email)));
    expect(choose.status, choose.html.slice(0, 600)).to.equal(200);
    const mismatch = await browser.submit(findForm(choose, 'new-password-form'), { password: 'a new long password', confirm: 'another long password' });
    expect(mismatch.status).to.equal(400);
    const done = await browser.submit(findForm(mismatch, 'new-password-form'), { password: 'a new long password', confirm: 'a new long password' });
    expect(done.status, done.html.slice(0, 600)).to.equal(200);
    return { request, sent, choose, mismatch, done };
  }

  it('the 404 page speaks the browser\'s language; API clients keep English', async function () {
    const page = await new GermanBrowser().go(`${server.issuer}/keine-solche-seite`);
    expect(page.status).to.equal(404);
    expect(page.headers.get('content-language')).to.equal('de');
    expect(page.html).to.include('<html lang="de"').and.include(german.t('errors.not_found.heading'))
      .and.include('Unter dieser Adresse gibt es keine Seite.').and.include('Fehlercode: <code>not_found</code>')
      .and.not.include('Page not found');

    const plain = await new Browser().go(`${server.issuer}/no-such-page`);
    expect(plain.html).to.include('<html lang="en"').and.include('Page not found').and.include('Error code: <code>not_found</code>');

    const api = await fetch(`${server.issuer}/keine-solche-seite`, { headers: { accept: 'application/json', 'accept-language': 'de' } });
    expect(api.status).to.equal(404);
    expect(await api.json()).to.deep.equal({ error: 'not_found', error_description: english.t('errors.not_found.message') });
  });

  it('an expired sign-in page explains itself in German', async function () {
    const page = await new GermanBrowser().go(`${server.issuer}/interaction/not-a-live-one`);
    expect(page.status).to.equal(400);
    expect(page.html).to.include(german.t('errors.interaction_not_found.message')).and.include('interaction_not_found');
  });

  it('the provider\'s own error page speaks German, its description for the shop\'s developers stays as oidc-provider wrote it', async function () {
    const page = await new GermanBrowser().go(`${server.issuer}/auth?client_id=no-such-shop&response_type=code&scope=openid`);
    expect(page.status).to.equal(400);
    expect(page.html).to.include('<html lang="de"').and.include(`<h1>${german.t('errors.oauth.invalid_client')}</h1>`)
      .and.include(german.t('errors.provider.hint')).and.include('<summary>Details für die Entwickler des Shops</summary>')
      .and.include('invalid_client').and.include('client is invalid');
  });

  it('the sign-out pages speak the shop\'s ui_locales, else the browser\'s language', async function () {
    const browser = new Browser([SHOP]);
    await signIn(shop, browser, server.accounts.alice);
    const asked = await browser.go(`${server.issuer}/session/end?ui_locales=de`);
    expect(asked.status).to.equal(200);
    expect(asked.html).to.include('<h1>Abmelden?</h1>').and.include('Möchten Sie sich auf diesem Gerät von Ihrem Konto abmelden?')
      .and.include('Ja, abmelden').and.not.include('Sign out?');

    const reader = new GermanBrowser([SHOP]);
    await signIn(shop, reader, server.accounts.bob);
    const confirm = await reader.go(`${server.issuer}/session/end`);
    expect(confirm.html).to.include('<h1>Abmelden?</h1>');
    const done = await reader.submit(findForm(confirm, 'op.logoutForm'), { logout: 'yes' });
    expect(done.status).to.equal(200);
    expect(done.html).to.include('<h1>Sie sind abgemeldet</h1>').and.include('Ihre Abmeldung war erfolgreich.');
  });

  it('an account without a language: the reset pages and both mails speak the page\'s language (Accept-Language: de)', async function () {
    const email = 'jonas@example.com';
    const created = await createAccount(server.conn, { email, password: 'jonas-password-1', name: 'Jonas Beispiel' });
    const { request, sent, choose, mismatch, done } = await resetPassword(new GermanBrowser(), email);
    expect(request.html).to.include('<h1>Passwort zurücksetzen</h1>').and.include('Link per E-Mail senden').and.not.include('Reset your password');
    expect(sent.html).to.include('Prüfen Sie Ihre E-Mails').and.include(`Wenn <strong>${email}</strong> zu einem Konto gehört`)
      .and.include('30 Minuten lang');
    expect(choose.html).to.include('Neues Passwort wählen').and.include('Mindestens 8 und höchstens 256 Zeichen');
    expect(mismatch.html).to.include(german.t('password_reset.problem.password_mismatch'));
    expect(done.html).to.include('Ihr Passwort wurde geändert');

    const link = await mailTo(email);
    expect(link.parsed.subject).to.equal(`Passwort für ${ISSUER_NAME} zurücksetzen`);
    expect(textOf(link)).to.include('Hallo Jonas Beispiel,').and.include('Der Link funktioniert nur einmal und ist 30 Minuten lang gültig.')
      .and.not.include('Hello');

    const notice = await mailTo(email, 2);
    const record = await theRecord(created.id, 'password_reset');
    expect(notice.parsed.subject).to.equal(`Das Passwort Ihres Kontos bei ${ISSUER_NAME} wurde zurückgesetzt`);
    // no time zone chosen: UTC, written the German way
    expect(textOf(notice)).to.include('Hallo Jonas Beispiel,').and.include(`Zeitpunkt: ${german.formatTime(record.at)}`)
      .and.include('Link geöffnet in: dem Browser, in dem er angefordert wurde').and.not.include('Hello');
    expect(String(notice.parsed.html)).to.include('<html lang="de">');
    expect(notice.parsed.headers.get('content-language'), 'mail programs know the language (RFC 3282)').to.equal('de');
  });

  it('a German account gets its mails in German from an English page, with times in its own time zone', async function () {
    const email = 'greta@example.com';
    const created = await createAccount(server.conn, { email, password: 'greta-password-1', name: 'Greta Beispiel' });
    await (await accounts(server.conn)).updateOne({ _id: created.id }, { $set: { language: 'de', timeZone: 'Europe/Berlin' } });
    const { request } = await resetPassword(new Browser(), email);
    expect(request.html).to.include('Reset your password');

    expect((await mailTo(email)).parsed.subject).to.equal(`Passwort für ${ISSUER_NAME} zurücksetzen`);
    const notice = await mailTo(email, 2);
    const record = await theRecord(created.id, 'password_reset');
    const berlin = languages.translator('de', { timeZone: 'Europe/Berlin' }).formatTime(record.at);
    expect(berlin).to.match(/ MES?Z$/);
    expect(notice.parsed.subject).to.equal(`Das Passwort Ihres Kontos bei ${ISSUER_NAME} wurde zurückgesetzt`);
    expect(textOf(notice)).to.include('Hallo Greta Beispiel,').and.include(`Zeitpunkt: ${berlin}`).and.not.include('Hello');
  });

  it('an account without a language gets its sign-in code in the language of the sign-in page', async function () {
    const email = 'emil@example.com';
    const created = await createAccount(server.conn, { email, password: 'emil-password-12', name: 'Emil Beispiel' });
    const factor = server.factors.all.find((candidate) => candidate.challenge && candidate.enrol);
    expect((await factor?.enrol?.begin({ id: created.id, email }))?.ok).to.equal(true);
    const enrolment = await mailTo(email);
    expect(enrolment.parsed.subject, 'without a page: the default language').to.match(/^Your /);
    const code = /\b(\d{6})\b/.exec(textOf(enrolment))?.[1];
    expect((await factor?.enrol?.confirm?.(created.id, code))?.ok).to.equal(true);

    const browser = new GermanBrowser([SHOP]);
    const pending = await shop.startLogin({ acr_values: ACR.mfa });
    const challenge = await browser.submit(findForm(await browser.go(pending.url.href), '/login'), { email, password: 'emil-password-12' });
    clock.tick(60_000);
    const sent = await browser.submit(findForm(challenge, '/mfa/send'));
    expect(sent.status).to.equal(200);
    const mail = await mailTo(email, 2);
    expect(textOf(mail)).to.include('Hallo Emil Beispiel,').and.include('Der Code ist 10 Minuten lang gültig').and.not.include('Hello');
    const signInCode = /\b(\d{6})\b/.exec(textOf(mail))?.[1] as string;
    expect((await submitCode(browser, sent, signInCode)).status).to.equal(0);
  });
});
