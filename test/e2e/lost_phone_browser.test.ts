/**
 * The lost-phone path in headless Chromium: the lockout page's offers, a recovery code, "N recovery codes left — set up
 * your new phone?", the new app set up and new recovery codes, back at the shop; and "Replace authenticator app" in the
 * security settings. Every page passes axe and is kept as screenshots at 390 px and 1280 px in
 * `test-artifacts/lost-phone/`.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import type { RecoveryFactor } from '../../src/factors/recovery/factor.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { ACR } from '../../src/policy/acr.ts';
import { newCustomer } from '../console/support.ts';
import { appCode, enrolTotp } from '../factors/support.ts';
import { launchChromium, type HeadlessChromium } from '../helpers/browser.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { artifactsDir, axeProblems, screenshotWidths } from '../helpers/page_checks.ts';
import { useTestServer } from '../helpers/server.ts';
import { Shop } from '../helpers/shop.ts';

const SCREENSHOTS = artifactsDir('lost-phone');

describe('lost phone in a real browser (headless Chromium)', function () {
  this.timeout(120_000);
  let chromium: HeadlessChromium;
  let shopSite: Server;
  before(async function () {
    shopSite = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html lang="en"><title>Shop</title><p>Back at the shop</p></html>');
    });
    shopSite.listen(0, '127.0.0.1');
    await once(shopSite, 'listening');
    await rm(SCREENSHOTS, { recursive: true, force: true });
  });
  const server = useTestServer('e2e_lost_phone', () => ({
    shopOrigin: `http://localhost:${(shopSite.address() as AddressInfo).port}`,
    mailer: 'config',
    env: { SUPPORT_URL: 'https://help.shop.example/sign-in' },
  }));
  const clock = useFrozenClock();
  before(async function () {
    chromium = await launchChromium();
  });
  after(async function () {
    await chromium?.close();
    shopSite?.closeAllConnections();
    shopSite?.close();
  });

  async function click(page: Page, role: 'button' | 'link', name: string | RegExp): Promise<void> {
    await Promise.all([page.waitForLoadState('load'), page.getByRole(role, { name }).click()]);
  }

  async function customerWithApp(name: string) {
    const customer = await newCustomer(server, name);
    const secret = await enrolTotp(server.factors.get('totp') as TotpFactor, customer);
    const codes = await (server.factors.backup[0] as RecoveryFactor).generate(customer.id);
    return { ...customer, secret, codes };
  }

  it('locked out of the old phone: a recovery code, the new phone set up, new recovery codes, back at the shop', async function () {
    const customer = await customerWithApp('lena');
    const shop = await Shop.discover(server.issuer, server.clients.firstParty);
    const pending = await shop.startLogin({ acr_values: ACR.mfaApp });
    const page = await chromium.context.newPage();
    const problems: string[] = [];
    await page.goto(pending.url.href);
    await page.getByLabel('Email').fill(customer.email);
    await page.getByLabel('Password').fill(customer.password);
    await click(page, 'button', 'Sign in');
    for (let i = 0; i < 5 && await page.getByRole('heading', { name: 'Too many wrong codes' }).count() === 0; i += 1) {
      await page.getByLabel('Authentication code').fill('000000');
      await click(page, 'button', 'Verify code');
    }
    await page.getByRole('heading', { name: 'Too many wrong codes' }).waitFor();
    expect(await page.getByLabel('Authentication code').count(), 'no code field for the locked app').to.equal(0);
    expect(await page.getByRole('link', { name: 'Contact support' }).getAttribute('href')).to.equal('https://help.shop.example/sign-in');
    problems.push(...await axeProblems(page, 'lockout'));
    await screenshotWidths(page, SCREENSHOTS, '01-lockout');

    await click(page, 'link', 'Use a recovery code');
    await page.getByLabel('Recovery code').fill(customer.codes[0] as string);
    await click(page, 'button', 'Verify code');
    await page.getByRole('heading', { name: 'You signed in with a recovery code' }).waitFor();
    expect(await page.locator('#recovery-remaining').innerText()).to.include('9 recovery codes left');
    problems.push(...await axeProblems(page, 'recovery code used'));
    await screenshotWidths(page, SCREENSHOTS, '02-recovered');

    await click(page, 'button', 'Set up my new phone');
    await page.getByRole('heading', { name: 'Set up your new phone' }).waitFor();
    // On the phone itself: open the app straight from the page, or copy the key (the page's script shows the button).
    expect(await page.getByRole('link', { name: 'Open in an authenticator app on this phone' }).getAttribute('href')).to.match(/^otpauth:\/\/totp\//);
    await page.getByRole('button', { name: 'Copy key' }).waitFor();
    problems.push(...await axeProblems(page, 'new phone'));
    await screenshotWidths(page, SCREENSHOTS, '03-new-phone');
    const key = (await page.locator('#manual-key').getAttribute('data-key'))?.replace(/\s+/g, '') as string;
    clock.tick(30_000);
    await page.getByLabel('Authentication code').fill(await appCode(key));
    await click(page, 'button', 'Verify code');
    await page.getByRole('heading', { name: 'Your new phone is set up' }).waitFor();
    await page.getByRole('button', { name: 'Print codes' }).waitFor();
    await page.getByRole('button', { name: 'Copy codes' }).waitFor();
    const newCodes = await page.locator('#recovery-codes code').allInnerTexts();
    expect(newCodes).to.have.length(10);
    expect(newCodes).to.not.include(customer.codes[1]);
    problems.push(...await axeProblems(page, 'new recovery codes'));
    await screenshotWidths(page, SCREENSHOTS, '04-new-codes');
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(server.clients.firstParty.redirectUri)),
      page.getByRole('button', { name: /continue to/ }).click(),
    ]);
    const tokens = await shop.finishLogin(pending, page.url());
    expect(tokens.claims()).to.include({ acr: ACR.mfaApp, sub: customer.id });
    const totp = server.factors.get('totp') as TotpFactor;
    clock.tick(30_000);
    expect((await totp.verify(customer.id, await appCode(customer.secret))).ok, 'the old phone still works').to.equal(false);
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('"Replace authenticator app" in the security settings', async function () {
    const customer = await customerWithApp('rosa');
    await chromium.context.clearCookies();
    const page = await chromium.context.newPage();
    const problems: string[] = [];
    /** The provider's pages as they come: the password (and the email when asked), then the app's code when asked. */
    const answerSignIn = async (): Promise<void> => {
      if (await page.getByLabel('Email').count() > 0) await page.getByLabel('Email').fill(customer.email);
      await page.getByLabel('Password').fill(customer.password);
      await click(page, 'button', 'Sign in');
      if (await page.getByLabel('Authentication code').count() > 0) {
        clock.tick(30_000);
        await page.getByLabel('Authentication code').fill(await appCode(customer.secret));
        await click(page, 'button', 'Verify code');
      }
    };
    await page.goto(`${server.issuer}/account`);
    await answerSignIn();
    await page.getByRole('heading', { level: 1, name: 'Security settings' }).waitFor();
    await click(page, 'button', 'Replace authenticator app (new phone)');
    // Opening the console is not a re-authentication: the password and the app again (the old phone still works).
    await answerSignIn();
    await page.getByRole('heading', { name: 'Replace authenticator app' }).waitFor();
    problems.push(...await axeProblems(page, 'replace app'));
    await screenshotWidths(page, SCREENSHOTS, '05-console-replace');
    await click(page, 'button', /Continue/);
    const key = (await page.locator('#manual-key').getAttribute('data-key'))?.replace(/\s+/g, '') as string;
    clock.tick(30_000);
    await page.getByLabel('Authentication code').fill(await appCode(key));
    await click(page, 'button', 'Verify code');
    await page.getByText('Your authenticator app was replaced').waitFor();
    problems.push(...await axeProblems(page, 'replaced'));
    await screenshotWidths(page, SCREENSHOTS, '06-console-replaced');
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });
});
