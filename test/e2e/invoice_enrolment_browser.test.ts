import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { ACR } from '../../src/policy/acr.ts';
import { appCode, decodeQrDataUrl, secretOfUri } from '../factors/support.ts';
import { launchChromium, type HeadlessChromium } from '../helpers/browser.ts';
import { Shop } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

/** In a real browser: an invoice customer sets up 2FA at the next login and returns with an MFA token. */
const SCREENSHOT = '/tmp/oidc-stepup-enrol-phone.png';

describe('invoice customer enrols an authenticator during login (headless Chromium, pay by invoice)', function () {
  this.timeout(60_000);
  let chromium: HeadlessChromium;
  let shopSite: Server;

  before(async function () {
    shopSite = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Shop</title><p>Back at the shop</p>');
    });
    shopSite.listen(0, '127.0.0.1');
    await once(shopSite, 'listening');
  });
  // With a mailer, email codes are offered beside the app: the customer chooses first.
  const server = useTestServer('e2e_invoice_enrol', () => ({ shopOrigin: `http://localhost:${(shopSite.address() as AddressInfo).port}`, mailer: 'config' }));
  before(async function () {
    chromium = await launchChromium();
  });
  after(async function () {
    await chromium?.close();
    shopSite?.closeAllConnections();
    shopSite?.close();
  });

  it('signs in, chooses the app, scans the QR from the page, enters the code, sees recovery codes once, lands at the shop with invoice and mfa acr', async function () {
    const shop = await Shop.discover(server.issuer, server.clients.firstParty);
    const pending = await shop.startLogin({ scope: 'openid invoice' });
    const page = await chromium.context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    await page.goto(pending.url.href);
    await page.getByLabel('Email').fill(server.mfaAccounts.nina.email);
    await page.getByLabel('Password').fill(server.mfaAccounts.nina.password);
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.getByRole('heading', { name: 'Set up two-factor authentication' }).waitFor();
    const appChoice = page.getByRole('radio', { name: 'Authenticator app (recommended)' });
    expect(await appChoice.isChecked()).to.equal(true);
    expect(await page.getByRole('radio', { name: /^Email code to n•••@example\.com$/ }).count()).to.equal(1);
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.getByAltText('QR code to add this account to your authenticator app').waitFor();
    const qr = page.getByAltText('QR code to add this account to your authenticator app');
    expect(await qr.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).to.be.greaterThan(0);
    const uri = decodeQrDataUrl(await qr.getAttribute('src') as string) as string;
    expect(uri).to.match(/^otpauth:\/\/totp\//);
    const secret = secretOfUri(uri);
    expect((await page.locator('#manual-key').textContent())?.replace(/\s+/g, '')).to.equal(secret);
    expect(await page.getByLabel('Authentication code').getAttribute('autocomplete')).to.equal('one-time-code');
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).to.equal(true);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.getByLabel('Authentication code').fill(await appCode(secret));
    await page.getByRole('button', { name: 'Verify code' }).click();
    await page.getByRole('heading', { name: 'Two-factor authentication successfully set up' }).waitFor();
    expect(await page.locator('#recovery-codes li').count()).to.equal(10);

    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(server.clients.firstParty.redirectUri)),
      page.getByRole('button', { name: /continue to/ }).click(),
    ]);
    expect(problems, 'console errors (a CSP violation would show here)').to.deep.equal([]);
    const tokens = await shop.finishLogin(pending, page.url());
    expect(tokens.claims()?.acr).to.equal(ACR.mfaApp);
    expect(tokens.claims()?.amr).to.deep.equal(['pwd', 'otp', 'mfa']);
    expect((tokens.scope ?? '').split(' ')).to.include('invoice');
  });
});
