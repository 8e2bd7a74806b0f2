import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { launchChromium, type HeadlessChromium } from '../helpers/browser.ts';
import { Shop } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

/** Where the login page screenshot goes (look at it: it is what a shopper sees on a phone). */
const SCREENSHOT = '/tmp/oidc-stepup-login-phone.png';
const CONSENT_SCREENSHOT = '/tmp/oidc-stepup-consent-phone.png';

describe('password login in a real browser (headless Chromium)', function () {
  this.timeout(60_000);
  let chromium: HeadlessChromium;
  let shopSite: Server;

  before(async function () {
    // The shop's own site: its callback page is where the browser must land.
    shopSite = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Shop</title><p>Back at the shop</p>');
    });
    shopSite.listen(0, '127.0.0.1');
    await once(shopSite, 'listening');
  });
  const server = useTestServer('e2e_login', () => ({ shopOrigin: `http://localhost:${(shopSite.address() as AddressInfo).port}` }));
  before(async function () {
    chromium = await launchChromium();
  });
  after(async function () {
    await chromium?.close();
    shopSite?.closeAllConnections();
    shopSite?.close();
  });

  it('opens the login page, signs in and lands on the shop redirect URI with a code the shop can redeem', async function () {
    const shop = await Shop.discover(server.issuer, server.clients.firstParty);
    const pending = await shop.startLogin();
    const page = await chromium.context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    await page.goto(pending.url.href);
    await page.getByLabel('Email').waitFor();
    expect(await page.title()).to.equal('Sign in · oidc-stepup');
    expect(await page.locator('h1').textContent()).to.equal('Sign in');
    expect(await page.getByLabel('Email').getAttribute('autocomplete')).to.equal('username');
    expect(await page.getByLabel('Password').getAttribute('autocomplete')).to.equal('current-password');
    expect(await page.getByLabel('Keep me signed in on this device').isChecked()).to.equal(false);
    // the layout fits a phone: no horizontal scrolling
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).to.equal(true);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.getByLabel('Email').fill(server.accounts.alice.email);
    await page.getByLabel('Password').fill(server.accounts.alice.password);
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(server.clients.firstParty.redirectUri)),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);

    const landed = new URL(page.url());
    expect(landed.searchParams.get('code')).to.be.a('string').and.not.equal('');
    expect(landed.searchParams.get('state')).to.equal(pending.state);
    expect(await page.textContent('p')).to.equal('Back at the shop');
    expect(problems, 'console errors (a CSP violation would show here)').to.deep.equal([]);

    const tokens = await shop.finishLogin(pending, landed.href);
    expect(tokens.claims()?.sub).to.equal(server.accounts.alice.id);
    expect(tokens.claims()?.amr).to.deep.equal(['pwd']);
  });

  it('a wrong password shows the message next to the form, announced to screen readers', async function () {
    const shop = await Shop.discover(server.issuer, server.clients.firstParty);
    const pending = await shop.startLogin();
    await chromium.context.clearCookies(); // signed out: the first test left a session behind
    const page = await chromium.context.newPage();
    await page.goto(pending.url.href);
    await page.getByLabel('Email').fill(server.accounts.alice.email);
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).to.equal('Email or password is incorrect.');
    expect(await page.getByLabel('Email').inputValue()).to.equal(server.accounts.alice.email);
  });

  it('a third-party shop shows the consent page; "Allow" lands on the shop with a code', async function () {
    const partner = await Shop.discover(server.issuer, server.clients.thirdParty);
    const pending = await partner.startLogin({ scope: 'openid email' });
    await chromium.context.clearCookies();
    const page = await chromium.context.newPage();
    await page.goto(pending.url.href);
    await page.getByLabel('Email').fill(server.accounts.bob.email);
    await page.getByLabel('Password').fill(server.accounts.bob.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Allow Partner Shop?' }).waitFor();
    expect(await page.locator('ul.scopes li').allTextContents()).to.deep.equal(['Confirm who you are when you sign in', 'See your email address']);
    await page.screenshot({ path: CONSENT_SCREENSHOT, fullPage: true });
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(server.clients.thirdParty.redirectUri)),
      page.getByRole('button', { name: 'Allow' }).click(),
    ]);
    const tokens = await partner.finishLogin(pending, page.url());
    expect(tokens.claims()?.sub).to.equal(server.accounts.bob.id);
  });

  it('a shop signing out the customer it names (id_token_hint) returns to the shop without a question', async function () {
    const shop = await Shop.discover(server.issuer, server.clients.firstParty);
    const pending = await shop.startLogin();
    await chromium.context.clearCookies();
    const page = await chromium.context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    await page.goto(pending.url.href);
    await page.getByLabel('Email').fill(server.accounts.alice.email);
    await page.getByLabel('Password').fill(server.accounts.alice.password);
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(server.clients.firstParty.redirectUri)),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    const tokens = await shop.finishLogin(pending, page.url());
    const logout = new URL(`${server.issuer}/session/end`);
    logout.search = new URLSearchParams({
      id_token_hint: tokens.id_token as string, post_logout_redirect_uri: server.clients.firstParty.postLogoutRedirectUri, state: 'bye',
    }).toString();
    await page.goto(logout.href);
    await page.waitForURL((url) => url.href.startsWith(server.clients.firstParty.postLogoutRedirectUri));
    expect(new URL(page.url()).searchParams.get('state')).to.equal('bye');
    expect(problems, 'console errors (a CSP violation would show here)').to.deep.equal([]);
    const silent = await shop.startLogin({ prompt: 'none' });
    await page.goto(silent.url.href);
    expect(new URL(page.url()).searchParams.get('error')).to.equal('login_required');
  });
});
