import { expect } from 'chai';
import { createAccount } from '../../src/accounts/accounts.ts';
import { flattenCatalogue, readCatalogues } from '../../src/i18n/languages.ts';
import { clientInputOf, findClient, saveClient, type ShopClient } from '../../src/provider/clients.ts';
import { wrongCode } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, useShop, type Page, type PendingLogin } from '../helpers/shop.ts';
import { useTestServer, type TestAccount } from '../helpers/server.ts';
import { isChallenge, manualKeyOf, nextCode, submitCode } from '../helpers/step_up.ts';
import { german } from '../helpers/words.ts';

/**
 * The steps after the password and the consent page in German: the shop's `ui_locales` (OIDC Core §3.1.2.1) names
 * the language, or the browser's Accept-Language when the shop's languages have no catalogue.
 */
const SHOP = 'http://localhost:7777/';

/** The sections of the catalogue these pages speak from. */
const SECTIONS = ['consent', 'mfa', 'factors', 'common', 'support'];

/** English words of those sections that German says differently: whole messages, and the text between values. */
function englishLeftovers(): string[] {
  const catalogues = readCatalogues();
  const lookup = (catalogue: unknown, id: string): unknown => id.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)?.[key], catalogue);
  const words = new Set<string>();
  for (const id of flattenCatalogue(catalogues.en!)) {
    if (!SECTIONS.includes(id.split('.')[0]!)) continue;
    const english = lookup(catalogues.en, id) as string;
    if (english === lookup(catalogues.de, id)) continue; // words both languages share
    if (!english.includes('{')) {
      words.add(english);
      continue;
    }
    // The literal runs of a message with values (plural branches included), long enough to mean something.
    for (const run of english.split(/[{}#]/)) {
      const text = run.replace(/\b(plural|one|other|select)\b,?/g, '').trim();
      if (text.length >= 12) words.add(text);
    }
  }
  return [...words];
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>' };

/** What the page says: text and attribute values (alt texts, button labels for the script), without its style sheet. */
function wordsOf(page: Page): string {
  return page.html.replace(/<style[\s\S]*?<\/style>/g, '').replace(/&(amp|quot|#39|lt|gt);/g, (entity) => ENTITIES[entity] ?? entity);
}

/** `text` as whole words: "Method" is no leftover in "Methode". */
function wholeWords(text: string): RegExp {
  const literal = text.replace(/[.*+?^$()[\]{}|\\]/g, '\\$&');
  return new RegExp(`(?<!\\p{L})${literal}(?!\\p{L})`, 'u');
}

/** A page in German, none of this area's English on it. */
function expectGerman(page: Page, leftovers: readonly string[]): void {
  expect(page.status, page.html.slice(0, 1500)).to.be.within(200, 499);
  expect(page.html).to.include('<html lang="de">');
  expect(page.headers.get('content-language')).to.equal('de');
  const words = wordsOf(page);
  const found = leftovers.filter((english) => wholeWords(english).test(words));
  expect(found, `English on the German page ${page.url}`).to.deep.equal([]);
}

/** A browser whose every request says it prefers German (`Accept-Language: de`). */
class GermanBrowser extends Browser {
  override request(url: string, init: Parameters<Browser['request']>[1] = {}): Promise<Page> {
    return super.request(url, { ...init, headers: { 'accept-language': 'de', ...init.headers } });
  }
}

describe('the sign-in steps after the password and the consent page, in German', function () {
  const server = useTestServer('sign_in_pages_german', { mailer: 'config' });
  const shop = useShop(server);
  const partner = useShop(server, 'thirdParty');
  const clock = useFrozenClock();
  const leftovers = englishLeftovers();

  async function password(browser: Browser, account: TestAccount, params: Record<string, string>, via = shop): Promise<{ page: Page; pending: PendingLogin }> {
    const pending = await via.startLogin(params);
    const loginPage = await browser.go(pending.url.href);
    expect(loginPage.html).to.include('<html lang="de">');
    const page = await browser.submit(findForm(loginPage, '/login'), { email: account.email, password: account.password });
    return { page, pending };
  }

  it('has English words to look for', function () {
    expect(leftovers).to.include('Verify code').and.include('Two-factor authentication').and.include('Allow');
  });

  it('enrolment: the choice, the QR code, a wrong code, the right one and the recovery codes', async function () {
    const browser = new Browser([SHOP]);
    const { page: choice, pending } = await password(browser, server.mfaAccounts.gina, { ui_locales: 'de' });
    expectGerman(choice, leftovers);
    expect(choice.html).to.include(`<h1>${german.t('mfa.enrol.title')}</h1>`).and.include(german.t('mfa.enrol.why.company_policy'));
    const app = german.t('factors.totp.label');
    expect(choice.html).to.include(german.t('mfa.enrol.recommended', { method: app }));
    expect(choice.html).to.include(german.t('mfa.enrol.method_to', { method: german.t('factors.email.label'), destination: 'g•••@example.com' }));

    const appId = server.factors.all.find((factor) => factor.role === 'primary' && factor.enrol && !factor.challenge)?.id;
    const qr = await browser.submit(findForm(choice, '/enrol/method'), { method: appId });
    expectGerman(qr, leftovers);
    expect(qr.html).to.include(german.t('factors.totp.enrol.scan')).and.include(`alt="${german.t('factors.totp.enrol.qr_alt')}"`);
    expect(qr.html).to.include(`<label for="code">${german.t('factors.common.code_label')}</label>`);
    expect(qr.html).to.include(`>${german.t('factors.common.verify')}</button>`);
    // the sentence around the "new QR code" button keeps the button inside it
    expect(qr.html).to.match(/In der falschen App[^<]*<button class="link" type="submit">Neuen QR-Code anzeigen<\/button> – der obige/);
    const secret = manualKeyOf(qr);

    const wrong = await browser.submit(findForm(qr, '/enrol'), { code: await wrongCode(secret) });
    expect(wrong.status).to.equal(400);
    expectGerman(wrong, leftovers);
    expect(wrong.html).to.include(german.t('factors.totp.wrong_code'));

    const codes = await browser.submit(findForm(wrong, '/enrol'), { code: await nextCode(clock, secret) });
    expect(codes.status).to.equal(200);
    expectGerman(codes, leftovers);
    expect(codes.html).to.include(german.t('mfa.codes.heading')).and.include(german.t('factors.recovery.enrol.heading'));
    expect(codes.html).to.include(german.t('mfa.codes.every_sign_in_method', { method: app, method_in_sentence: german.t('factors.totp.in_sentence') }));
    expect(codes.html).to.include(`download="${german.t('factors.recovery.enrol.file_name')}"`);
    expect(codes.html).to.include(german.t('mfa.codes.saved_continue_to', { client: 'First Shop' }));

    const done = await browser.submit(findForm(codes, 'continue-form'));
    expect(done.status).to.equal(0);
    expect((await shop.finishLogin(pending, done.url)).claims()?.sub).to.equal(server.mfaAccounts.gina.id);
  });

  it('the challenge: a wrong code, an entry that cannot be a code, then the right code', async function () {
    const browser = new Browser([SHOP]);
    const { page, pending } = await password(browser, server.mfaAccounts.fred, { ui_locales: 'de' });
    expect(isChallenge(page)).to.equal(true);
    expectGerman(page, leftovers);
    expect(page.html).to.include(`<h1>${german.t('mfa.challenge.title')}</h1>`).and.include(german.t('factors.totp.challenge.intro'));
    expect(page.html).to.include(german.t('mfa.challenge.trouble')).and.include(german.t('mfa.challenge.trouble_lost_phone'));
    expect(page.html).to.include(german.t('common.cancel_return_to', { client: 'First Shop' }));

    const wrong = await submitCode(browser, page, await wrongCode(server.totpSecrets.fred));
    expect(wrong.status).to.equal(400);
    expectGerman(wrong, leftovers);
    expect(wrong.html).to.include('data-message="invalid_code"').and.include(german.t('factors.totp.wrong_code'));

    const malformed = await submitCode(browser, wrong, 'abc');
    expect(malformed.status).to.equal(400);
    expectGerman(malformed, leftovers);
    expect(malformed.html).to.include(german.t('mfa.error.code_malformed'));

    const done = await submitCode(browser, malformed, await nextCode(clock, server.totpSecrets.fred));
    expect(done.status).to.equal(0);
    expect((await shop.finishLogin(pending, done.url)).claims()?.sub).to.equal(server.mfaAccounts.fred.id);
  });

  it('the consent page of a third-party shop, with its privacy policy and terms', async function () {
    const stored = await findClient(server.conn, server.clients.thirdParty.clientId);
    await saveClient(server.conn, { ...clientInputOf(stored as ShopClient), policyUri: 'https://partner.example/privacy', tosUri: 'https://partner.example/terms' });
    const browser = new Browser([SHOP]);
    const { page } = await password(browser, server.accounts.alice, { ui_locales: 'de', scope: 'openid email profile' }, partner);
    expect(page.html).to.include('/confirm"');
    expectGerman(page, leftovers);
    expect(page.html).to.include(`<h1>${german.t('consent.title', { client: 'Partner Shop' })}</h1>`);
    expect(page.html).to.include(german.t('consent.asks_with_email', { client: 'Partner Shop', email: 'alice@example.com' }));
    for (const id of ['consent.permission.sign_in', 'consent.permission.email', 'consent.permission.name']) {
      expect(page.html).to.include(`<li>${german.t(id)}</li>`);
    }
    expect(page.html).to.include('Lesen Sie die <a href="https://partner.example/privacy" rel="noopener" target="_blank">Datenschutzerklärung</a>'
      + ' und die <a href="https://partner.example/terms" rel="noopener" target="_blank">Nutzungsbedingungen</a> von Partner Shop.');
    expect(page.html).to.include(`>${german.t('consent.allow')}</button>`).and.include(`>${german.t('consent.deny')}</button>`);
    const done = await browser.submit(findForm(page, '/confirm'));
    expect(done.status).to.equal(0);
  });

  it('email codes: the address inside the sentence where German puts it, and a resend too soon with its wait', async function () {
    await createAccount(server.conn, { email: 'greta@example.com', password: 'greta-password-7', name: 'Greta Rechnung', privileges: ['invoice'] });
    const browser = new Browser([SHOP]);
    const { page: choice } = await password(browser, { id: '', email: 'greta@example.com', password: 'greta-password-7', name: 'Greta' }, { ui_locales: 'de', scope: 'openid invoice' });
    expect(choice.html).to.include(german.t('mfa.enrol.why.step_up_scope'));
    const sent = await browser.submit(findForm(choice, '/enrol/method'), { method: 'email_code' });
    expectGerman(sent, leftovers);
    expect(sent.html).to.include('Wir haben einen 6-stelligen Code an <strong id="sent-to">g•••@example.com</strong> gesendet.');
    expect(sent.html).to.include(german.t('factors.email.enrol.no_email', { seconds: 30 }));
    const tooSoon = await browser.submit(findForm(sent, '/enrol/send'));
    expect(tooSoon.status).to.equal(429);
    expectGerman(tooSoon, leftovers);
    expect(tooSoon.html).to.include(german.t('mfa.error.resend_too_soon', { seconds: 30 })).and.include('Warten Sie 30 Sekunden');
  });

  it('ui_locales "fr de": the first language with a catalogue, German', async function () {
    const browser = new Browser([SHOP]);
    const { page } = await password(browser, server.mfaAccounts.fred, { ui_locales: 'fr de' });
    expect(isChallenge(page)).to.equal(true);
    expectGerman(page, leftovers);
    expect(page.html).to.include(german.t('factors.totp.challenge.intro'));
  });

  it('ui_locales "fr" alone and no Accept-Language: English, the default, whose words the check finds', async function () {
    const pending = await shop.startLogin({ ui_locales: 'fr' });
    const browser = new Browser([SHOP]);
    const login = await browser.go(pending.url.href);
    const english = await browser.submit(findForm(login, '/login'), { email: server.mfaAccounts.fred.email, password: server.mfaAccounts.fred.password });
    expect(english.html).to.include('<html lang="en">');
    expect(leftovers.filter((words) => wholeWords(words).test(wordsOf(english)))).to.include('Two-factor authentication').and.include('Verify code');
  });

  it('ui_locales "fr" alone: the browser\'s Accept-Language, German', async function () {
    const browser = new GermanBrowser([SHOP]);
    const { page } = await password(browser, server.mfaAccounts.fred, { ui_locales: 'fr' });
    expect(isChallenge(page)).to.equal(true);
    expectGerman(page, leftovers);
    const wrong = await submitCode(browser, page, await wrongCode(server.totpSecrets.fred));
    expectGerman(wrong, leftovers);
    expect(wrong.html).to.include(german.t('factors.totp.wrong_code'));
  });
});
