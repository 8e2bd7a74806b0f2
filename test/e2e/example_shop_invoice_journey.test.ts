/**
 * The whole journey through the example shop in headless Chromium, as the shop's customers meet it (seed 000): a
 * new customer with the invoice privilege signs in with the password, fills the cart, chooses "Pay by invoice", sets up
 * the authenticator app on the way (QR code read from the page, code typed), sees the recovery codes, lands back on
 * the order, booked through the shop's invoice API. Twenty minutes later (the clock moved: one process, so the
 * provider, the shop and its API agree) the same customer pays by invoice again and is asked only for the code.
 *
 * Every page is kept as a screenshot in `test-artifacts/example-shop/` (README "The example shop"; ignored by git).
 */
import { mkdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { ACR } from '../../src/policy/acr.ts';
import { appCode, decodeQrDataUrl, secretOfUri } from '../factors/support.ts';
import { launchChromium, type HeadlessChromium } from '../helpers/browser.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useExampleShop } from '../helpers/example_shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { nextCode } from '../helpers/step_up.ts';

export const SCREENSHOTS_DIR = resolve(import.meta.dirname, '../../test-artifacts/example-shop');

describe('the example shop in a browser: pay by invoice, set up the app on the way, pay again 20 minutes later with the code only (headless Chromium)', function () {
  this.timeout(120_000);
  let chromium: HeadlessChromium;
  // With a mailer, email codes are offered beside the app: the customer chooses the app.
  const server = useTestServer('e2e_example_shop', { mailer: 'config' });
  const shop = useExampleShop(server);
  const clock = useFrozenClock();

  before(async function () {
    await rm(SCREENSHOTS_DIR, { recursive: true, force: true });
    await mkdir(SCREENSHOTS_DIR, { recursive: true });
    chromium = await launchChromium();
  });
  after(async function () {
    await chromium?.close();
  });

  let shot = 0;
  async function screenshot(page: Page, name: string): Promise<void> {
    shot += 1;
    await page.screenshot({ path: resolve(SCREENSHOTS_DIR, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  }

  it('a new invoice customer: password, cart, "Pay by invoice", app set up, recovery codes, the order booked; 20 minutes later the code only', async function () {
    const customer = server.mfaAccounts.nina; // the invoice privilege, no second factor yet
    const page = await chromium.context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });

    await page.goto(`${shop.url}/`);
    await page.getByRole('heading', { name: 'Licence keys' }).waitFor();
    await screenshot(page, 'catalogue');
    await page.getByRole('button', { name: 'Add Office Suite 2026 to cart' }).click();
    await page.getByText('Office Suite 2026 is in your cart.').waitFor();
    await page.getByRole('button', { name: 'Add Private VPN to cart' }).click();
    await page.getByRole('link', { name: 'Cart (2)' }).click();
    await page.getByRole('heading', { name: 'Your cart' }).waitFor();
    expect(await page.locator('#total').textContent()).to.equal('€208.00');
    await screenshot(page, 'cart');

    // Checkout needs a signed-in customer: the provider's sign-in, password only.
    await page.getByRole('link', { name: 'Checkout' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(page.url().startsWith(server.issuer)).to.equal(true);
    await page.getByLabel('Email').fill(customer.email);
    await page.getByLabel('Password').fill(customer.password);
    await screenshot(page, 'provider-sign-in');
    await Promise.all([page.waitForURL(`${shop.url}/checkout`), page.getByRole('button', { name: 'Sign in' }).click()]);
    expect(await page.locator('#customer-name').textContent()).to.equal('Nina Newcomer');
    const invoice = page.getByRole('radio', { name: /^Pay by invoice/ });
    expect(await invoice.count(), 'offered: the account has the invoice privilege').to.equal(1);
    await invoice.check();
    await screenshot(page, 'checkout');

    // "Pay by invoice": the provider, the enrolment (the password once more, then the app).
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.getByRole('heading', { name: 'Set up two-factor authentication' }).waitFor();
    expect(page.url().startsWith(server.issuer)).to.equal(true);
    await screenshot(page, 'provider-choose-method');
    expect(await page.getByRole('radio', { name: 'Authenticator app (recommended)' }).isChecked()).to.equal(true);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Confirm your password' }).waitFor();
    await page.getByLabel('Password').fill(customer.password);
    await screenshot(page, 'provider-confirm-password');
    await page.getByRole('button', { name: 'Confirm password' }).click();

    const qr = page.getByAltText('QR code to add this account to your authenticator app');
    await qr.waitFor();
    const secret = secretOfUri(decodeQrDataUrl(await qr.getAttribute('src') as string) as string);
    await screenshot(page, 'provider-scan-qr');
    await page.getByLabel('Authentication code').fill(await appCode(secret));
    await page.getByRole('button', { name: 'Verify code' }).click();
    await page.getByRole('heading', { name: 'Two-factor authentication successfully set up' }).waitFor();
    expect(await page.locator('#recovery-codes li').count()).to.equal(10);
    await screenshot(page, 'provider-recovery-codes');

    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(`${shop.url}/orders/`)),
      page.getByRole('button', { name: /continue to Example Shop/ }).click(),
    ]);
    await page.getByRole('heading', { name: 'Thank you — order placed' }).waitFor();
    const [first] = shop.invoiceApi.invoices();
    expect(first).to.deep.include({ customer: customer.id, acr: ACR.mfa, totalCents: 20_800 });
    expect(await page.locator('#invoice-number').textContent()).to.equal(first?.invoiceNumber);
    await screenshot(page, 'order-placed-by-invoice');

    // Twenty minutes later: the invoice token expired, the second factor is older than 15 minutes.
    clock.tick(20 * 60_000);
    await page.goto(`${shop.url}/`);
    await page.getByRole('button', { name: 'Add Antivirus Pro to cart' }).click();
    await page.getByRole('link', { name: 'Cart (1)' }).click();
    await page.getByRole('link', { name: 'Checkout' }).click();
    await page.getByRole('radio', { name: /^Pay by invoice/ }).check();
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.getByRole('heading', { name: 'Two-factor authentication' }).waitFor();
    expect(await page.getByLabel('Password').count(), 'signed in already: the code only').to.equal(0);
    await page.getByLabel('Authentication code').fill(await nextCode(clock, secret));
    await screenshot(page, 'provider-code-only');
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(`${shop.url}/orders/`)),
      page.getByRole('button', { name: 'Verify code' }).click(),
    ]);
    await page.getByRole('heading', { name: 'Thank you — order placed' }).waitFor();
    const second = shop.invoiceApi.invoices()[1];
    expect(second).to.deep.include({ customer: customer.id, acr: ACR.mfa, totalCents: 3_990 });
    expect(second?.authTime?.getTime()).to.equal(Math.floor(Date.now() / 1000) * 1000);
    expect(await page.locator('#invoice-number').textContent()).to.equal(second?.invoiceNumber);
    await screenshot(page, 'order-placed-again');

    expect(problems, 'console errors').to.deep.equal([]);
    await page.close();
  });
});
