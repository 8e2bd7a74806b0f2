/**
 * The pay-by-invoice journey of a German shop's customer in a real browser, the shop asking for German
 * (`ui_locales=de`) while the browser itself speaks English: the first sign-in sets up the authenticator app (QR code,
 * a wrong code, the right one, the recovery codes), the shop gets its invoice token; the next sign-in asks for the
 * code. Every page is German, passes axe, shows no English word and no message id; screenshots of each step are kept
 * in `test-artifacts/invoice-journey-de/`.
 */
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { ACR } from '../../src/policy/acr.ts';
import { appCode, decodeQrDataUrl, secretOfUri } from '../factors/support.ts';
import { launchChromium, type HeadlessChromium } from '../helpers/browser.ts';
import { artifactsDir, axeProblems, screenshotWidths } from '../helpers/page_checks.ts';
import { englishLeftovers, shownIds, visibleWords } from '../helpers/page_words.ts';
import { Shop } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { freezeClock, type FrozenClock } from '../helpers/clock.ts';
import { german } from '../helpers/words.ts';

const SCREENSHOTS = artifactsDir('invoice-journey-de');

describe('a German customer pays by invoice: 2FA set up at the first sign-in, asked at the next (headless Chromium, ui_locales=de)', function () {
  this.timeout(60_000);
  let chromium: HeadlessChromium;
  let shopSite: Server;
  let clock: FrozenClock | undefined;

  before(async function () {
    shopSite = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html lang="de"><title>Shop</title><p>Zurück im Shop</p></html>');
    });
    shopSite.listen(0, '127.0.0.1');
    await once(shopSite, 'listening');
  });
  const server = useTestServer('e2e_invoice_journey_de', () => ({ shopOrigin: `http://localhost:${(shopSite.address() as AddressInfo).port}` }));
  before(async function () {
    chromium = await launchChromium({ locale: 'en-GB' });
    await rm(SCREENSHOTS, { recursive: true, force: true });
  });
  afterEach(function () {
    clock?.uninstall();
    clock = undefined;
  });
  after(async function () {
    await chromium?.close();
    shopSite?.closeAllConnections();
    shopSite?.close();
  });

  /** The page is German, accessible, free of English words and message ids; its screenshots are kept. */
  async function checkPage(page: Page, label: string): Promise<string[]> {
    expect(await page.getAttribute('html', 'lang'), label).to.equal('de');
    const words = await visibleWords(page);
    const problems = [...await axeProblems(page, label), ...englishLeftovers(words, label), ...shownIds(words, label)];
    await screenshotWidths(page, SCREENSHOTS, label);
    return problems;
  }

  async function onPage(page: Page, view: string): Promise<void> {
    await page.locator(`body[data-page="${view}"]`).waitFor();
  }

  async function signIn(page: Page, email: string, password: string): Promise<void> {
    await page.locator('#email').fill(email);
    await page.locator('#password').fill(password);
    await Promise.all([page.waitForLoadState('load'), page.locator('form[action$="/login"] button[type=submit]').click()]);
  }

  async function submitCode(page: Page, code: string): Promise<void> {
    await page.locator('input[name=code]').fill(code);
    await Promise.all([page.waitForLoadState('load'), page.locator('form:has(input[name=code]) button[type=submit]').first().click()]);
  }

  it('sets up the authenticator app in German, recovers from a wrong code, and the next sign-in asks for the code', async function () {
    const nina = server.mfaAccounts.nina;
    const shop = await Shop.discover(server.issuer, server.clients.firstParty);
    const problems: string[] = [];
    const page = await chromium.context.newPage();
    // A script or style the CSP refused would show here (the wrong code's page answers 4xx, which Chromium logs too).
    page.on('console', (message) => {
      if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) {
        problems.push(`console: ${message.text()}`);
      }
    });

    // 1. The shop asks for the invoice scope in German; the customer signs in with email and password.
    const first = await shop.startLogin({ scope: 'openid invoice', ui_locales: 'de' });
    await page.goto(first.url.href);
    await onPage(page, 'login');
    expect(await page.locator('h1').innerText()).to.equal(german.t('login.title'));
    problems.push(...await checkPage(page, '1-anmelden'));
    await signIn(page, nina.email, nina.password);

    // 2. 2FA must be set up: the QR code and the key to type in.
    if (await page.locator('body[data-page="mfa_enrol_choice"]').count() > 0) {
      problems.push(...await checkPage(page, '2-methode-waehlen'));
      await page.locator('input[type=radio][value=totp]').check();
      await Promise.all([page.waitForLoadState('load'), page.locator('form[action$="/enrol/method"] button[type=submit]').click()]);
    }
    await page.locator('#manual-key').waitFor();
    problems.push(...await checkPage(page, '3-qr-code'));
    const qr = page.locator('img[src^="data:image/png"]').first();
    const secret = secretOfUri(decodeQrDataUrl(await qr.getAttribute('src') as string) as string);
    expect((await page.locator('#manual-key').textContent())?.replace(/\s+/g, '')).to.equal(secret);

    // 3. A wrong code: a German message says so and the form stays.
    clock = freezeClock();
    const right = await appCode(secret);
    await submitCode(page, right === '000000' ? '111111' : '000000');
    await page.getByRole('alert').waitFor();
    problems.push(...await checkPage(page, '4-falscher-code'));

    // 4. The right code: set up, recovery codes shown once; on to the shop with the invoice scope at mfa level.
    await submitCode(page, right);
    await page.locator('#recovery-codes').waitFor();
    expect(await page.locator('#recovery-codes li').count()).to.equal(10);
    problems.push(...await checkPage(page, '5-eingerichtet-wiederherstellungscodes'));
    clock.uninstall();
    clock = undefined;
    const redirectUri = server.clients.firstParty.redirectUri;
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(redirectUri)),
      page.locator(`form[action^="/interaction/"] button[type=submit]`).last().click(),
    ]);
    const tokens = await shop.finishLogin(first, page.url());
    expect(tokens.claims()?.acr).to.equal(ACR.mfaApp);
    expect((tokens.scope ?? '').split(' ')).to.include('invoice');

    // 5. The next sign-in (a new browser session) asks for the code, in German.
    await chromium.context.clearCookies();
    const next = await shop.startLogin({ scope: 'openid invoice', ui_locales: 'de' });
    await page.goto(next.url.href);
    await signIn(page, nina.email, nina.password);
    await onPage(page, 'mfa_challenge');
    problems.push(...await checkPage(page, '6-code-abfrage'));
    clock = freezeClock(Date.now() + 60_000);
    await Promise.all([page.waitForURL((url) => url.href.startsWith(redirectUri)), submitCode(page, await appCode(secret))]);
    const again = await shop.finishLogin(next, page.url());
    expect(again.claims()?.amr).to.include('otp');
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });
});
