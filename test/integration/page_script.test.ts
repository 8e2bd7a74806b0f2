/**
 * The pages' one script: served from the provider's own origin (the CSP allows scripts from 'self' only, no inline
 * script), cacheable, and the buttons it drives are hidden until it runs (every page works without it).
 */
import { expect } from 'chai';
import { useTestServer } from '../helpers/server.ts';
import { Browser, useShop } from '../helpers/shop.ts';

describe('the pages\' script', function () {
  const server = useTestServer('page_script');
  const shop = useShop(server);

  it('is served as JavaScript with an ETag, and a page loads it under its CSP', async function () {
    const browser = new Browser();
    const script = await browser.request(`${server.issuer}/assets/page.js`);
    expect(script.status).to.equal(200);
    expect(script.headers.get('content-type')).to.match(/^application\/javascript/);
    expect(script.html).to.include('data-copy');
    const etag = script.headers.get('etag') as string;
    const again = await browser.request(`${server.issuer}/assets/page.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).to.equal(304);
    const login = await browser.go((await shop.startLogin()).url.href);
    expect(login.html).to.include('<script src="/assets/page.js" defer>');
    expect(login.headers.get('content-security-policy')).to.include("script-src 'self'");
    expect((await browser.request(`${server.issuer}/assets/other.js`)).status).to.equal(404);
  });
});
