/**
 * The security settings and the company admin pages in the customer's language: the browser's `Accept-Language`,
 * then the language and time zone chosen in the settings (`/account/language`), stored with the account so that any
 * browser it signs in with follows it.
 */
import { expect } from 'chai';
import { createAccount, findAccountById } from '../../src/accounts/accounts.ts';
import { createCompany } from '../../src/accounts/companies.ts';
import { recordEvent } from '../../src/audit/audit_log.ts';
import { authenticate, newCustomer, type Customer } from '../console/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, type Form, type Page } from '../helpers/shop.ts';
import { english, german, languages } from '../helpers/words.ts';

/** A browser whose every request names the languages its user reads (RFC 9110 §12.5.4). */
class ReadingBrowser extends Browser {
  private readonly accept: string;

  constructor(accept: string) {
    super();
    this.accept = accept;
  }

  override request(url: string, init: Parameters<Browser['request']>[1] = {}): Promise<Page> {
    return super.request(url, { ...init, headers: { 'accept-language': this.accept, ...init.headers } });
  }
}

/** Whether the page says it is in `language`. */
function isIn(page: Page, language: string): boolean {
  return page.html.includes(`<html lang="${language}">`);
}

describe('security settings in the customer\'s language', function () {
  const server = useTestServer('console_language', { mailer: 'config' });
  const clock = useFrozenClock();

  /** Opens `/account` in `browser` and signs in; the overview. */
  async function signIn(browser: Browser, customer: Customer): Promise<Page> {
    const overview = await authenticate(browser, await browser.go(`${server.issuer}/account`), customer, clock);
    expect(overview.status, overview.html.slice(0, 600)).to.equal(200);
    expect(overview.url).to.equal(`${server.issuer}/account`);
    return overview;
  }

  /** Posts the language form as a browser would, with `fields` over the form's own (undefined leaves one out). */
  function post(browser: Browser, form: Form, fields: Record<string, string | undefined>): Promise<Page> {
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries({ ...form.fields, ...fields })) if (value !== undefined) body.append(name, value);
    return browser.request(form.action, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }

  it('shows the overview in German to a browser that reads German (Accept-Language: de)', async function () {
    const customer = await newCustomer(server, 'greta');
    const browser = new ReadingBrowser('de');
    const overview = await signIn(browser, customer);
    expect(isIn(overview, 'de')).to.equal(true);
    expect(overview.headers.get('content-language')).to.equal('de');
    expect(overview.html).to.include(`<h1>${german.t('console.overview.title')}</h1>`);
    expect(overview.html).to.include(german.t('console.methods.add', { method: german.t('factors.totp.in_sentence') }));
    expect(overview.html).to.include(german.t('console.language.change_link'));
    expect(overview.html).to.not.include(english.t('console.overview.title'));
    // no choice stored: the overview says the pages follow the browser and times are in UTC
    expect(overview.html).to.include('data-language="" data-time-zone=""');
    expect(overview.html).to.include(german.t('console.language.summary', {
      language: german.t('console.language.browser_language'), zone: german.t('console.language.zone_utc'),
    }));
    // a refusal speaks German too
    const refused = await browser.go(`${server.issuer}/account/methods/sms/add`);
    expect(refused.status).to.equal(400);
    expect(isIn(refused, 'de')).to.equal(true);
    expect(refused.html).to.include(german.t('console.error.unknown_factor')).and.include(german.t('console.error.heading.bad_request'));
  });

  it('stores German and Europe/Berlin, switches the pages at once, and a new browser signing in follows the account', async function () {
    const customer = await newCustomer(server, 'hanna');
    const at = new Date(Date.now() - 60 * 60_000);
    await recordEvent(server.conn, { accountId: customer.id, actor: { type: 'user', id: customer.id }, event: 'password_changed', at });
    const browser = new ReadingBrowser('en');
    const overview = await signIn(browser, customer);
    expect(isIn(overview, 'en')).to.equal(true);
    expect(overview.html).to.include(`${english.formatTime(at)}</time>: ${english.t('console.event.password_changed')}`);

    const settings = await browser.go(`${server.issuer}/account/language`);
    expect(settings.status).to.equal(200);
    expect(settings.html).to.include('<option value="" selected>Browser language</option>');
    expect(settings.html).to.include('<option value="de" lang="de">Deutsch</option>');
    expect(settings.html).to.include('<option value="Europe/Berlin" translate="no">Europe/Berlin</option>');
    expect(settings.html, 'no zone stored: the page script may propose the browser\'s').to.include('data-browser-zone="true"');
    const form = findForm(settings, 'language-form');
    expect(form.fields).to.have.property('csrf');

    const saved = await browser.submit(form, { language: 'de', time_zone: 'Europe/Berlin' });
    expect(saved.url).to.equal(`${server.issuer}/account?done=language_saved`);
    expect(isIn(saved, 'de'), 'the pages follow the new language at once').to.equal(true);
    expect(saved.html).to.include(german.t('console.notice.language_saved'));
    expect(saved.html).to.include('data-language="de" data-time-zone="Europe/Berlin"');
    expect(saved.html).to.include(german.t('console.language.summary', { language: 'Deutsch', zone: 'Europe/Berlin' }));
    // times are written in the chosen zone (the browser rewrites them in its own)
    const berlin = languages.translator('de', { timeZone: 'Europe/Berlin' });
    expect(saved.html).to.include(`<time datetime="${at.toISOString()}" data-local>${berlin.formatTime(at)}</time>: ${german.t('console.event.password_changed')}`);
    const stored = await findAccountById(server.conn, customer.id);
    expect(stored?.language).to.equal('de');
    expect(stored?.timeZone).to.equal('Europe/Berlin');

    const again = await browser.go(`${server.issuer}/account/language`);
    expect(again.html).to.include('<option value="de" lang="de" selected>Deutsch</option>');
    expect(again.html).to.include('<option value="Europe/Berlin" selected translate="no">Europe/Berlin</option>');
    expect(again.html).to.not.include('data-browser-zone');

    // a new browser (no cookies) that reads English: signed in, the pages follow the account
    const other = new ReadingBrowser('en');
    const elsewhere = await signIn(other, customer);
    expect(isIn(elsewhere, 'de')).to.equal(true);
    expect(elsewhere.html).to.include(`<h1>${german.t('console.overview.title')}</h1>`);
    expect(elsewhere.html).to.include(berlin.formatTime(at));

    // "Browser language" and UTC: nothing stored, the pages follow the browser again
    const reset = await other.submit(findForm(await other.go(`${server.issuer}/account/language`), 'language-form'), { language: '', time_zone: '' });
    expect(reset.url).to.equal(`${server.issuer}/account?done=language_saved`);
    expect(isIn(reset, 'en')).to.equal(true);
    expect(reset.html).to.include(english.t('console.notice.language_saved'));
    expect(reset.html).to.include(`${english.formatTime(at)}</time>`);
    const cleared = await findAccountById(server.conn, customer.id);
    expect(cleared?.language).to.equal(undefined);
    expect(cleared?.timeZone).to.equal(undefined);
  });

  it('refuses an unknown language or time zone, a missing field and a missing or forged CSRF token, storing nothing', async function () {
    const customer = await newCustomer(server, 'ines');
    const browser = new ReadingBrowser('de');
    await signIn(browser, customer);
    const form = findForm(await browser.go(`${server.issuer}/account/language`), 'language-form');
    const bad: Record<string, string | undefined>[] = [
      { language: 'fr', time_zone: 'Europe/Berlin' },
      { language: 'DE', time_zone: '' },
      { language: 'de-CH', time_zone: '' },
      { language: 'de', time_zone: 'Mars/Olympus_Mons' },
      { language: 'de', time_zone: 'europe/berlin' },
      { language: 'de', time_zone: 'x'.repeat(500) },
      { language: 'de', time_zone: undefined },
      { language: undefined, time_zone: 'Europe/Berlin' },
    ];
    for (const fields of bad) {
      const page = await post(browser, form, fields);
      expect(page.status, JSON.stringify(fields)).to.equal(400);
      expect(isIn(page, 'de')).to.equal(true);
      expect(page.html).to.include('role="alert"').and.include(german.t('console.language.invalid'));
      expect(page.html, 'the form is shown again').to.include('id="language-form"');
    }
    for (const csrf of [undefined, 'forged']) {
      const page = await post(browser, form, { csrf, language: 'de', time_zone: 'Europe/Berlin' });
      expect(page.status).to.equal(403);
      expect(page.html).to.include(german.t('console.error.csrf_token_invalid'));
    }
    const signedOut = await post(new ReadingBrowser('de'), form, { language: 'de', time_zone: 'Europe/Berlin' });
    expect(signedOut.status).to.equal(401);
    const account = await findAccountById(server.conn, customer.id);
    expect(account?.language).to.equal(undefined);
    expect(account?.timeZone).to.equal(undefined);
    const cookies = await browser.jar.getCookies(`${server.issuer}/account`);
    expect(cookies.map((cookie) => cookie.key), 'no language remembered either').to.not.include('language');
  });

  it('shows the company admin page and its report in German', async function () {
    const company = await createCompany(server.conn, { name: 'Firma Sprache', mfaPolicy: 'opt_in' });
    const password = 'klara-password-9';
    await createAccount(server.conn, { email: 'klara@example.com', password, name: 'Klara Admin', companyId: company.id, companyRole: 'admin' });
    await createAccount(server.conn, { email: 'moritz@example.com', password: 'moritz-password-9', name: 'Moritz Mitglied', companyId: company.id });
    const browser = new ReadingBrowser('de-DE,de;q=0.9,en;q=0.5');
    const overview = await signIn(browser, { id: '', email: 'klara@example.com', password });
    expect(overview.html).to.include(german.t('console.overview.company_link'));
    const page = await browser.go(`${server.issuer}/account/company`);
    expect(page.status).to.equal(200);
    expect(isIn(page, 'de')).to.equal(true);
    expect(page.html).to.include(`<title>${german.t('company.title', { company: 'Firma Sprache' })}`);
    expect(page.html).to.include(german.t('company.policy.heading'));
    expect(page.html).to.include(`<strong>${german.t('company.policy.opt_in.label')}</strong>: ${german.t('company.policy.opt_in.description')}`);
    expect(page.html).to.include(german.t('company.report.summary', { withTwoFactor: 0, total: 2 }));
    expect(page.html).to.include(`<th scope="col">${german.t('company.report.column.methods_set_up')}</th>`);
    expect(page.html).to.include(`>${german.t('company.report.role.member')}<`).and.include(`>${german.t('company.report.role.admin')}<`);
    expect(page.html).to.include(german.t('company.report.own_settings'));
    expect(page.html).to.not.include(english.t('company.policy.heading'));

    const csv = await browser.go(`${server.issuer}/account/company/report.csv`);
    expect(csv.status).to.equal(200);
    expect(csv.html.split('\r\n')[0]).to.include(`"${german.t('company.report.column.two_factor')}"`);
    expect(csv.html).to.include(`"Moritz Mitglied","moritz@example.com","${german.t('company.report.role.member')}","${german.t('company.report.no')}"`);

    const policy = await browser.submit(findForm(page, 'policy-form'), { policy: 'sometimes' });
    expect(policy.status).to.equal(400);
    expect(policy.html).to.include(german.t('company.error.invalid_policy'));
  });
});
