import { expect } from 'chai';
import { Browser, findForm } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

describe('the dev demo shop at /demo-shop', function () {
  const server = useTestServer('demo_shop', { demoShop: true });

  it('"Pay by invoice" runs the whole flow and shows the ID token with acr/amr/auth_time; sign-out returns to the shop', async function () {
    const browser = new Browser();
    const home = await browser.go(`${server.issuer}/demo-shop`);
    expect(home.status).to.equal(200);
    expect(home.html).to.include('href="/demo-shop/login?intent=invoice"');

    const login = await browser.go(`${server.issuer}/demo-shop/login?intent=invoice`);
    expect(login.html).to.include('to continue to Demo Shop');
    const back = await browser.submit(findForm(login, '/login'), { email: server.accounts.alice.email, password: server.accounts.alice.password });
    expect(back.status).to.equal(200);
    expect(new URL(back.url).pathname).to.equal('/demo-shop/callback');
    expect(back.html).to.include('You are back at the shop');
    // A password session never gets the invoice scope (it waits for the step-up); the rest of the flow completes.
    expect(back.html).to.include('not allowed for this customer');
    expect(back.html).to.not.include('openid email invoice');
    expect(back.html).to.include('&quot;acr&quot;: &quot;urn:oidc-stepup:acr:pwd&quot;');
    expect(back.html).to.include('&quot;auth_time&quot;:');
    expect(back.html).to.include(`&quot;sub&quot;: &quot;${server.accounts.alice.id}&quot;`);

    // The demo shop names its customer (id_token_hint): the page confirms itself (a browser without script clicks once).
    const confirm = await browser.go(`${server.issuer}/demo-shop/logout`);
    expect(confirm.html).to.include('Signing you out');
    const done = await browser.submit(findForm(confirm, 'op.logoutForm'), { logout: 'yes' });
    expect(new URL(done.url).pathname).to.equal('/demo-shop');
    expect(done.html).to.not.include('href="/demo-shop/logout"');
  });

  it('a callback the shop did not start is refused with a clear message', async function () {
    const page = await new Browser().go(`${server.issuer}/demo-shop/callback?code=forged&state=x`);
    expect(page.status).to.equal(400);
    expect(page.html).to.include('This sign-in was not started here');
  });
});
