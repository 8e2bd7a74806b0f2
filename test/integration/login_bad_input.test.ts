import { expect } from 'chai';
import { Browser, findForm, useShop, type Form, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

/** The page without what differs per response by design (the CSP nonce). */
function comparable(page: Page): string {
  return page.html.replace(/nonce="[^"]*"/g, 'nonce=""');
}

describe('login form: bad input never helps an attacker and never breaks the server', function () {
  const server = useTestServer('login_bad_input');
  const shop = useShop(server);

  async function openLogin(): Promise<{ browser: Browser; page: Page; form: Form }> {
    const browser = new Browser(['http://localhost:7777/']);
    const pending = await shop.startLogin();
    const page = await browser.go(pending.url.href);
    expect(page.status).to.equal(200);
    return { browser, page, form: findForm(page, '/login') };
  }

  it('a wrong password and an unknown email get the identical page and message', async function () {
    const { browser, form } = await openLogin();
    const unknownEmail = await browser.submit(form, { email: 'nobody@example.com', password: 'not-the-password' });
    const wrongPassword = await browser.submit(form, { email: server.accounts.alice.email, password: 'not-the-password' });

    for (const page of [unknownEmail, wrongPassword]) {
      expect(page.status).to.equal(401);
      expect(page.html).to.include('Email or password is incorrect.');
    }
    // apart from echoing what was typed into the email field, the two answers are the same, byte for byte
    const withoutEcho = (page: Page, email: string) => comparable(page).replace(`value="${email}"`, 'value=""');
    expect(withoutEcho(wrongPassword, server.accounts.alice.email)).to.equal(withoutEcho(unknownEmail, 'nobody@example.com'));
    expect([...unknownEmail.headers.keys()].sort()).to.deep.equal([...wrongPassword.headers.keys()].sort());
  });

  it('the right password after a wrong one still signs in (the form is re-shown, not broken)', async function () {
    const { browser, form } = await openLogin();
    const failed = await browser.submit(form, { email: server.accounts.bob.email, password: 'nope-nope-nope' });
    expect(failed.status).to.equal(401);
    const ok = await browser.submit(findForm(failed, '/login'), { password: server.accounts.bob.password });
    expect(ok.status).to.equal(0);
    expect(new URL(ok.url).searchParams.get('code')).to.be.a('string');
  });

  it('missing fields re-show the form with a clear message and 400, keeping the email', async function () {
    const { browser, form } = await openLogin();
    const noPassword = await browser.submit(form, { email: 'alice@example.com', password: '' });
    expect(noPassword.status).to.equal(400);
    expect(noPassword.html).to.include('Enter your email address and your password.');
    expect(findForm(noPassword, '/login').fields.email).to.equal('alice@example.com');

    const nothing = await browser.submit(form, { email: undefined, password: undefined });
    expect(nothing.status).to.equal(400);
    expect(nothing.html).to.include('Enter your email address and your password.');
  });

  it('fields sent as arrays or objects get 400 and the form again, not a 500', async function () {
    const { browser, form } = await openLogin();
    const csrf = form.fields.csrf as string;
    for (const body of [
      `csrf=${encodeURIComponent(csrf)}&email=alice%40example.com&email=bob%40example.com&password=x`,
      `csrf=${encodeURIComponent(csrf)}&email[]=alice%40example.com&password=alice-password-1`,
      `csrf=${encodeURIComponent(csrf)}&email=alice%40example.com&password[a]=b`,
    ]) {
      const page = await browser.request(form.action, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(page.status, body).to.equal(400);
      expect(page.html).to.include('The form was not filled in correctly.');
    }
  });

  it('an oversized form body is refused with a clear 413 page', async function () {
    const { browser, form } = await openLogin();
    const page = await browser.submit(form, { email: 'alice@example.com', password: 'x'.repeat(64 * 1024) });
    expect(page.status).to.equal(413);
    expect(page.headers.get('content-type')).to.match(/text\/html/);
    expect(page.html).to.include('Too much data');
    expect(page.html).to.include('payload_too_large');
  });

  it('an overlong password within the size limit is refused as invalid input, without hashing it', async function () {
    const { browser, form } = await openLogin();
    const page = await browser.submit(form, { email: 'alice@example.com', password: 'y'.repeat(5000) });
    expect(page.status).to.equal(400);
    expect(page.html).to.include('The form was not filled in correctly.');
  });

  it('a JSON body instead of a form is refused with 415', async function () {
    const { browser, form } = await openLogin();
    const page = await browser.request(form.action, {
      method: 'POST',
      body: JSON.stringify({ csrf: form.fields.csrf, email: 'alice@example.com', password: 'alice-password-1' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(page.status).to.equal(415);
    expect(page.html).to.include('unsupported_media_type');
  });
});
