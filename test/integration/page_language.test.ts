import { expect } from 'chai';
import { Browser, findForm, useShop, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { clientInputOf, findClient, saveClient, type ShopClient } from '../../src/provider/clients.ts';
import { english, german } from '../helpers/words.ts';

const SHOP = 'http://localhost:7777/';

function htmlLang(page: Page): string | undefined {
  return /<html lang="([^"]+)"/.exec(page.html)?.[1];
}

/** The language switch's link to `language` on this page. */
function switchTo(page: Page, language: string): string {
  const link = new RegExp(`<a href="(/language\\?[^"]+)" hreflang="${language}"`).exec(page.html)?.[1];
  if (!link) throw new Error(`no switch to ${language} on ${page.url}`);
  return new URL(link.replace(/&amp;/g, '&'), page.url).href;
}

/** Follows redirects sending `headers` on every request (as a browser sends its Accept-Language). */
async function goWith(browser: Browser, url: string, headers: Record<string, string>): Promise<Page> {
  let page = await browser.request(url, { headers });
  for (let hops = 0; hops < 10 && page.status >= 300 && page.status < 400; hops += 1) {
    const next = new URL(page.headers.get('location') ?? '', page.url).href;
    if (next.startsWith(SHOP)) return { url: next, status: 0, headers: new Headers(), html: '' };
    page = await browser.request(next, { headers });
  }
  return page;
}

describe('the language of the pages: the customer’s choice, the shop’s ui_locales, the account, the browser, the default', function () {
  const server = useTestServer('page_language');
  const shop = useShop(server);

  async function signInPage(params: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<{ browser: Browser; page: Page }> {
    const browser = new Browser([SHOP]);
    const pending = await shop.startLogin(params);
    const page = await goWith(browser, pending.url.href, headers);
    expect(page.status).to.equal(200);
    return { browser, page };
  }

  it('without any hint the sign-in is in the default language, English', async function () {
    const { page } = await signInPage();
    expect(htmlLang(page)).to.equal('en');
    expect(page.headers.get('content-language')).to.equal('en');
    expect(page.html).to.include(`<h1>${english.t('login.title')}</h1>`);
  });

  it('the shop’s ui_locales picks German, also as a regional tag or after a language without a catalogue', async function () {
    for (const uiLocales of ['de', 'de-CH', 'fr-CA de en']) {
      const { page } = await signInPage({ ui_locales: uiLocales });
      expect(htmlLang(page), uiLocales).to.equal('de');
      expect(page.html).to.include(`<h1>${german.t('login.title')}</h1>`);
      expect(page.html).to.include(german.t('login.remember'));
    }
  });

  it('the browser’s Accept-Language counts when the shop names no language it has, and ui_locales wins over it', async function () {
    const browserOnly = await signInPage({ ui_locales: 'fr' }, { 'accept-language': 'fr;q=1, de-AT;q=0.8, en;q=0.5' });
    expect(htmlLang(browserOnly.page)).to.equal('de');
    const shopWins = await signInPage({ ui_locales: 'en' }, { 'accept-language': 'de' });
    expect(htmlLang(shopWins.page)).to.equal('en');
    expect(shopWins.page.headers.get('vary')).to.match(/accept-language/i);
  });

  it('the language switch keeps the interaction: the same sign-in, its typed email hint, now in German, and it signs in', async function () {
    const { browser, page } = await signInPage({ login_hint: server.accounts.bob.email });
    const switched = await browser.go(switchTo(page, 'de'));
    expect(switched.status).to.equal(200);
    expect(htmlLang(switched)).to.equal('de');
    expect(switched.url).to.equal(page.url);
    const form = findForm(switched, '/login');
    expect(form.fields.email).to.equal(server.accounts.bob.email);
    // a wrong password answers in German, and the page's switch returns to the step, not to the form's POST address
    const wrong = await browser.submit(form, { password: 'not-the-password' });
    expect(wrong.html).to.include(german.t('login.error.invalid_credentials'));
    expect(decodeURIComponent(switchTo(wrong, 'en'))).to.include(`return=${new URL(page.url).pathname}`);
    const done = await browser.submit(findForm(wrong, '/login'), { password: server.accounts.bob.password });
    expect(done.status).to.equal(0);
    expect(new URL(done.url).searchParams.get('code')).to.be.a('string');
  });

  it('the choice outlives the interaction in this browser and wins over the shop’s ui_locales and the browser’s languages', async function () {
    const { browser, page } = await signInPage({}, { 'accept-language': 'en' });
    await browser.go(switchTo(page, 'de'));
    const pending = await shop.startLogin({ ui_locales: 'en' });
    const next = await goWith(browser, pending.url.href, { 'accept-language': 'en' });
    expect(htmlLang(next)).to.equal('de');
    const back = await browser.go(switchTo(next, 'en'));
    expect(htmlLang(back)).to.equal('en');
  });

  it('the switch is no open redirect and knows only its languages', async function () {
    const browser = new Browser();
    for (const query of [
      'set=de&return=https://evil.example/',
      'set=de&return=//evil.example/',
      'set=de&return=/\\evil.example/',
      'set=de&return=javascript:alert(1)',
      'set=de',
      'set=xx&return=/account',
      'set[]=de&return=/account',
      'set=de&return=/account%0d%0aSet-Cookie:%20x=y',
    ]) {
      const page = await browser.request(`${server.issuer}/language?${query}`);
      expect(page.status, query).to.equal(400);
      expect(page.headers.get('location'), query).to.equal(null);
      expect(page.headers.getSetCookie().join(), query).not.to.include('language=');
    }
    const ok = await browser.request(`${server.issuer}/language?set=de&return=${encodeURIComponent('/account?x=1')}`);
    expect(ok.status).to.equal(303);
    expect(ok.headers.get('location')).to.equal('/account?x=1');
    expect(ok.headers.getSetCookie().join()).to.match(/language=de;.*httponly/i);
  });

  it('after the password, the account’s stored language wins over the browser’s (the code page of a German customer)', async function () {
    const carol = server.mfaAccounts.carol;
    await server.conn.collection('accounts').updateOne({ _id: carol.id as never }, { $set: { language: 'de' } });
    try {
      const browser = new Browser([SHOP]);
      const pending = await shop.startLogin({ acr_values: 'urn:oidc-stepup:acr:mfa' });
      const login = await goWith(browser, pending.url.href, { 'accept-language': 'en' });
      expect(htmlLang(login)).to.equal('en');
      const form = findForm(login, '/login');
      const body = new URLSearchParams({ ...form.fields as Record<string, string>, email: carol.email, password: carol.password });
      const posted = await browser.request(form.action, { method: 'POST', body, headers: { 'accept-language': 'en', 'content-type': 'application/x-www-form-urlencoded' } });
      // the password step answers with the code page itself
      expect(posted.status).to.equal(200);
      expect(posted.html).to.include('name="code"');
      expect(htmlLang(posted)).to.equal('de');
      const again = await goWith(browser, new URL(posted.url.replace(/\/login$/, '')).href, { 'accept-language': 'en' });
      expect(htmlLang(again)).to.equal('de');
      // the shop's ui_locales still comes first
      const pendingEn = await shop.startLogin({ acr_values: 'urn:oidc-stepup:acr:mfa', ui_locales: 'en' });
      const english = await goWith(browser, pendingEn.url.href, { 'accept-language': 'de' });
      expect(htmlLang(english)).to.equal('en');
    } finally {
      await server.conn.collection('accounts').updateOne({ _id: carol.id as never }, { $unset: { language: '' } });
    }
  });

  it('the security settings are named in the page’s language on their sign-in (client_name#de)', async function () {
    for (const [accept, words, name] of [['de', german, 'Sicherheitseinstellungen'], ['en', english, 'Security settings']] as const) {
      const page = await goWith(new Browser(), `${server.issuer}/account`, { 'accept-language': accept });
      expect(page.html, accept).to.include(words.t('login.to_continue', { client: name }));
    }
  });

  it('a shop registered with a name per language is named in the page’s language', async function () {
    const stored = await findClient(server.conn, server.clients.firstParty.clientId) as ShopClient;
    await saveClient(server.conn, { ...clientInputOf(stored), localizedNames: { de: 'Erster Laden' } });
    try {
      const inGerman = await signInPage({ ui_locales: 'de' });
      expect(inGerman.page.html).to.include(german.t('login.to_continue', { client: 'Erster Laden' }));
      const englishPage = await signInPage({ ui_locales: 'en' });
      expect(englishPage.page.html).to.include(english.t('login.to_continue', { client: stored.name ?? '' }));
    } finally {
      await saveClient(server.conn, clientInputOf(stored));
    }
  });

  it('discovery announces the languages of the pages (ui_locales_supported)', async function () {
    const response = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    const metadata = await response.json() as { ui_locales_supported?: string[] };
    expect(metadata.ui_locales_supported).to.deep.equal(['en', 'de']);
  });
});
