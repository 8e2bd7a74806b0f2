/**
 * The security console in a real browser (headless Chromium, phone-sized): sign in at /account through the
 * provider, add an authenticator app (re-authentication, the key, a code), save the recovery codes, and find the app
 * on in the overview — with no CSP violation or script error on the way.
 */
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { appCode } from '../factors/support.ts';
import { newCustomer, type Customer } from '../console/support.ts';
import { launchChromium, type HeadlessChromium } from '../helpers/browser.ts';
import { useTestServer } from '../helpers/server.ts';

const SCREENSHOT = '/tmp/oidc-stepup-account-phone.png';

describe('security console in a real browser (headless Chromium)', function () {
  this.timeout(60_000);
  const server = useTestServer('e2e_account', { mailer: 'config' });
  let chromium: HeadlessChromium;
  let customer: Customer;

  before(async function () {
    chromium = await launchChromium();
    customer = await newCustomer(server, 'olga');
  });
  after(async function () {
    await chromium?.close();
  });

  async function signInWithPassword(page: Page): Promise<void> {
    await page.getByLabel('Email').fill(customer.email);
    await page.getByLabel('Password').fill(customer.password);
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Sign in' }).click()]);
  }

  it('signs in, adds an authenticator app after confirming the password, shows the recovery codes once', async function () {
    const page = await chromium.context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (err) => problems.push(err.message));

    await page.goto(`${server.issuer}/account`);
    await page.getByLabel('Email').waitFor();
    await signInWithPassword(page);
    await page.getByRole('heading', { level: 1, name: 'Security settings' }).waitFor();
    expect(await page.locator('[data-method="totp"]').getAttribute('data-enrolled')).to.equal('false');
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'fits a phone').to.equal(true);

    await page.getByRole('button', { name: 'Add authenticator app' }).click();
    // Until the key shows: confirm the password again when asked (every change needs a fresh sign-in).
    for (let step = 0; step < 4 && await page.locator('#manual-key').count() === 0; step += 1) {
      if (await page.getByLabel('Password').count() > 0) await signInWithPassword(page);
      else await page.getByRole('button', { name: /continue/i }).click();
      await page.waitForLoadState('load');
    }
    const key = (await page.locator('#manual-key').getAttribute('data-key'))?.replace(/\s+/g, '');
    expect(key, 'the manual key').to.match(/^[A-Z2-7]{32}$/);
    expect(await page.getByRole('img', { name: /QR code/ }).getAttribute('src')).to.match(/^data:image\/png;base64,/);
    await page.getByLabel('Authentication code').fill(await appCode(key as string));
    await page.getByRole('button', { name: 'Verify code' }).click();

    await page.locator('#recovery-codes').waitFor();
    expect(await page.locator('#recovery-codes li').count()).to.equal(10);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.getByRole('link', { name: /I saved my codes/ }).click();

    await page.getByRole('heading', { level: 1, name: 'Security settings' }).waitFor();
    expect(await page.locator('[data-method="totp"]').getAttribute('data-enrolled')).to.equal('true');
    expect(await page.locator('#sign-in-mfa').getAttribute('data-state')).to.equal('on');
    expect(await page.locator('#recovery-remaining').getAttribute('data-remaining')).to.equal('10');
    expect(problems, 'console errors (a CSP violation would show here)').to.deep.equal([]);
  });
});
