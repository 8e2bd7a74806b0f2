import { expect } from 'chai';
import { Browser, findForm, useShop, type Form, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

describe('interaction tampering and cross-site request forgery', function () {
  const server = useTestServer('interaction_tampering');
  const shop = useShop(server);

  async function openLogin(browser = new Browser(['http://localhost:7777/'])): Promise<{ browser: Browser; page: Page; form: Form }> {
    const pending = await shop.startLogin();
    const page = await browser.go(pending.url.href);
    return { browser, page, form: findForm(page, '/login') };
  }

  const post = (browser: Browser, url: string, fields: Record<string, string>) =>
    browser.request(url, { method: 'POST', body: new URLSearchParams(fields), headers: { 'content-type': 'application/x-www-form-urlencoded' } });

  it('a login POST without the CSRF token is refused with 403 and does not sign in', async function () {
    const { browser, form } = await openLogin();
    const page = await post(browser, form.action, { email: server.accounts.alice.email, password: server.accounts.alice.password });
    expect(page.status).to.equal(403);
    expect(page.html).to.include('csrf_token_invalid');
    expect(page.headers.get('location')).to.equal(null);
  });

  it('a CSRF token from another interaction (or made up) is refused with 403', async function () {
    const { form: otherForm } = await openLogin();
    const { browser, form } = await openLogin();
    for (const csrf of [otherForm.fields.csrf as string, 'made-up', '']) {
      const page = await post(browser, form.action, { csrf, email: server.accounts.alice.email, password: server.accounts.alice.password });
      expect(page.status, csrf).to.equal(403);
    }
    // the genuine token still works afterwards
    const ok = await browser.submit(form, { email: server.accounts.alice.email, password: server.accounts.alice.password });
    expect(ok.status).to.equal(0);
  });

  it('consent and abort POSTs need the token too', async function () {
    const { browser, form } = await openLogin();
    const uidPath = new URL(form.action).pathname.replace(/\/login$/, '');
    for (const step of ['/confirm', '/abort']) {
      const page = await post(browser, `${server.issuer}${uidPath}${step}`, {});
      expect(page.status, step).to.equal(403);
    }
  });

  it('a tampered or unknown interaction id shows a clear error page (400), never a 500', async function () {
    const { browser, form } = await openLogin();
    const action = new URL(form.action);
    const uid = action.pathname.split('/')[2] as string;
    const tampered = `${uid.slice(0, -1)}${uid.endsWith('A') ? 'B' : 'A'}`;

    const getTampered = await browser.request(`${server.issuer}/interaction/${tampered}`);
    expect(getTampered.status).to.equal(400);
    expect(getTampered.html).to.include('This sign-in page has expired or is not valid');

    const postTampered = await post(browser, `${server.issuer}/interaction/${tampered}/login`, { ...form.fields, email: 'a@b.c', password: 'x' });
    expect(postTampered.status).to.equal(400);

    const junk = await browser.request(`${server.issuer}/interaction/${encodeURIComponent('../../etc/passwd')}`);
    expect(junk.status).to.be.oneOf([400, 404]);

    // a browser without the interaction cookie (someone else's link)
    const stranger = await new Browser().request(`${server.issuer}/interaction/${uid}`);
    expect(stranger.status).to.equal(400);
    expect(stranger.html).to.include('Go back to the shop and start the sign-in again.');
  });

  it('interaction pages carry a CSP whose form-action allows only us and the shop, and are never cached', async function () {
    const { page } = await openLogin();
    const csp = page.headers.get('content-security-policy') ?? '';
    const formAction = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('form-action'));
    expect(formAction).to.equal("form-action 'self' http://localhost:7777");
    expect(csp).to.include("frame-ancestors 'none'");
    expect(csp).to.match(/style-src 'self' 'nonce-[^']+'/);
    expect(page.headers.get('cache-control')).to.equal('no-store');
    expect(page.headers.get('x-content-type-options')).to.equal('nosniff');
  });

  it('health probes answer: /healthz (process) and /readyz (database), with a request id for the logs', async function () {
    const health = await fetch(`${server.issuer}/healthz`);
    expect(health.status).to.equal(200);
    expect(await health.json()).to.deep.equal({ status: 'ok' });
    expect(health.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
    const traced = await fetch(`${server.issuer}/healthz`, { headers: { 'x-request-id': 'lb-trace-42' } });
    expect(traced.headers.get('x-request-id')).to.equal('lb-trace-42');
    const ready = await fetch(`${server.issuer}/readyz`);
    expect(ready.status).to.equal(200);
    expect(await ready.json()).to.deep.include({ status: 'ready' });
  });
});
