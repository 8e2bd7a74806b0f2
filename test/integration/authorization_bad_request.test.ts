import { expect } from 'chai';
import { Browser, Shop, useShop } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

describe('bad authorization requests: an error page, never a redirect to an unverified address, never a 500', function () {
  const server = useTestServer('authz_bad_request');
  const shop = useShop(server);

  function authorizeUrl(params: Record<string, string>): string {
    const url = new URL(`${server.issuer}/auth`);
    url.search = new URLSearchParams({
      response_type: 'code',
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'st',
      ...params,
    }).toString();
    return url.href;
  }

  it('an unknown client gets our error page with invalid_client (400), no redirect, no stack trace', async function () {
    const page = await new Browser().request(authorizeUrl({ client_id: 'no-such-shop', redirect_uri: 'https://evil.example/cb' }));
    expect(page.status).to.equal(400);
    expect(page.headers.get('location')).to.equal(null);
    expect(page.html).to.include('This shop is not registered');
    expect(page.html).to.include('invalid_client');
    expect(page.html).to.not.match(/at \S+ \(.*:\d+:\d+\)/); // no stack frames
  });

  it('a redirect URI the shop did not register gets the error page, not a redirect to it', async function () {
    const page = await new Browser().request(authorizeUrl({
      client_id: server.clients.firstParty.clientId,
      redirect_uri: 'https://evil.example/callback',
    }));
    expect(page.status).to.equal(400);
    expect(page.headers.get('location')).to.equal(null);
    expect(page.html).to.include('The shop sent an invalid return address');
    expect(page.html).to.include('redirect_uri did not match');
    expect(page.html).to.not.include('href="https://evil.example');
  });

  it('an unknown scope is ignored (RFC 6749 §3.3 lets the server narrow it) and the sign-in goes on', async function () {
    const partner = await Shop.discover(server.issuer, server.clients.thirdParty);
    const pending = await partner.startLogin({ scope: 'openid email no-such-scope' });
    const page = await new Browser(['http://localhost:7777/']).go(pending.url.href);
    expect(page.status).to.equal(200);
    expect(page.html).to.include('Sign in');
  });

  it('a prompt=none request without a session answers login_required at the shop', async function () {
    const pending = await shop.startLogin({ prompt: 'none' });
    const page = await new Browser(['http://localhost:7777/']).go(pending.url.href);
    const callback = new URL(page.url);
    expect(callback.searchParams.get('error')).to.equal('login_required');
    expect(callback.searchParams.get('state')).to.equal(pending.state);
  });

  it('an unknown path gets the 404 page; an API client gets JSON', async function () {
    const html = await new Browser().request(`${server.issuer}/no/such/page`);
    expect(html.status).to.equal(404);
    expect(html.html).to.include('Page not found');
    const json = await fetch(`${server.issuer}/no/such/page`, { headers: { accept: 'application/json' } });
    expect(json.status).to.equal(404);
    expect(await json.json()).to.deep.equal({ error: 'not_found', error_description: 'There is no page at this address.' });
  });
});
