/**
 * Accessibility of every page a shopper or company admin sees (the pages are server-rendered, work without JavaScript
 * and on a phone): axe-core's WCAG 2.1 A/AA and best-practice rules in headless Chromium at the phone viewport, one
 * pass per page; a `serious` or `critical` violation fails. No rule is disabled: should one misfire on a page, disable
 * only that rule for that page (`rules: { id: { enabled: false } }`) and say why. axe does not judge focus indicators,
 * so the focus ring's contrast (WCAG 2.1 SC 1.4.11) is measured separately.
 *
 * Injection (`test/helpers/page_checks.ts`): our CSP (`script-src 'self'` + nonce) blocks
 * `page.addScriptTag({ content })` — the inline script never runs, `window.axe` stays undefined — so axe is evaluated
 * through the DevTools protocol, which CSP does not govern.
 */
import { rm } from 'node:fs/promises';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createCompany } from '../../src/accounts/companies.ts';
import { createAttemptLimiter } from '../../src/factors/shared/attempts.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { appCode, enrolTotp } from '../factors/support.ts';
import { launchChromium, type HeadlessChromium } from '../helpers/browser.ts';
import { artifactsDir, axeProblems, loadAxe, screenshotWidths } from '../helpers/page_checks.ts';

const SCREENSHOTS = artifactsDir('pages');
import { Shop } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

/** WCAG 2.x relative luminance of an `rgb(r, g, b)` computed colour. */
function luminance(rgb: string): number {
  const [r, g, b] = (rgb.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((part) => {
    const channel = Number(part) / 255;
    return channel <= 0.03928 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * (r ?? 0) + 0.7152 * (g ?? 0) + 0.0722 * (b ?? 0);
}

function contrastRatio(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

describe('accessibility of the pages (axe-core in headless Chromium, phone viewport)', function () {
  this.timeout(60_000);
  const server = useTestServer('e2e_accessibility', { mailer: 'config' });
  let chromium: HeadlessChromium;
  let axeSource: string;
  let admin: { email: string; password: string };
  let firstShop: Shop;
  let partnerShop: Shop;

  before(async function () {
    chromium = await launchChromium();
    await rm(SCREENSHOTS, { recursive: true, force: true });
    axeSource = await loadAxe();
    // A company admin (opt-in policy, password only) with two members: one with an app, one locked out of it.
    const company = await createCompany(server.conn, { name: 'Accessible Corp', mfaPolicy: 'opt_in' });
    admin = { email: 'ada.a11y@example.com', password: 'ada-a11y-password-9' };
    const totp = server.factors.get('totp') as TotpFactor;
    const member = async (name: string) => {
      const local = name.split(' ')[0]?.toLowerCase() as string;
      const created = await createAccount(server.conn, { email: `${local}.a11y@example.com`, password: `${local}-a11y-password-9`, name, companyId: company.id });
      await enrolTotp(totp, { id: created.id, email: created.email });
      return created.id;
    };
    const [, , leo] = await Promise.all([
      createAccount(server.conn, { ...admin, name: 'Ada Admin', companyId: company.id, companyRole: 'admin' }),
      member('Mia Member'),
      member('Leo Locked'),
    ]);
    // five wrong codes lock leo's app: the report shows an Unlock button
    const limiter = createAttemptLimiter(server.conn);
    for (let i = 0; i < 5; i += 1) await limiter.reserve(leo);
    [firstShop, partnerShop] = await Promise.all([
      Shop.discover(server.issuer, server.clients.firstParty),
      Shop.discover(server.issuer, server.clients.thirdParty),
    ]);
  });
  after(async function () {
    await chromium?.close();
  });

  /** axe on the page as it is now, and its screenshots at 390 px and 1280 px (`test-artifacts/pages/`). */
  async function check(page: Page, label: string): Promise<string[]> {
    const problems = await axeProblems(page, label);
    await screenshotWidths(page, SCREENSHOTS, label.replace(/[^a-z0-9]+/gi, '-').toLowerCase());
    return problems;
  }

  /** A fresh page in a signed-out browser (the previous pages closed). */
  async function freshPage(): Promise<Page> {
    await Promise.all(chromium.context.pages().map((open) => open.close()));
    await chromium.context.clearCookies();
    return chromium.context.newPage();
  }

  async function signIn(page: Page, email: string, password: string): Promise<void> {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Sign in' }).click()]);
  }

  it('the login page, and the login page after a wrong password', async function () {
    const page = await freshPage();
    await page.goto((await firstShop.startLogin()).url.href);
    await page.getByLabel('Email').waitFor();
    // How axe gets in (see the file comment): not as an inline script tag, which our CSP refuses …
    await page.addScriptTag({ content: axeSource }).catch(() => undefined);
    expect(await page.evaluate('typeof window.axe'), 'an inline script ran despite script-src \'self\'').to.equal('undefined');
    // … but evaluated through the DevTools protocol, inside `axeProblems`.
    const problems = await check(page, 'login');
    // axe does not judge focus indicators: WCAG 2.1 SC 1.4.11 wants 3:1 against what surrounds them (the card).
    await page.getByLabel('Email').focus();
    const [outline, card] = await page.evaluate<[string, string]>(
      '[getComputedStyle(document.activeElement).outlineColor, getComputedStyle(document.querySelector(".card")).backgroundColor]',
    );
    expect(contrastRatio(outline, card), `focus outline ${outline} on ${card}`).to.be.at.least(3);
    await signIn(page, server.accounts.alice.email, 'wrong-password');
    await page.getByRole('alert').waitFor();
    problems.push(...await check(page, 'login with a wrong password'));
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('the second-factor challenge (authenticator app, acr mfa asked)', async function () {
    const page = await freshPage();
    await page.goto((await firstShop.startLogin({ acr_values: 'urn:oidc-stepup:acr:mfa' })).url.href);
    await signIn(page, server.mfaAccounts.carol.email, server.mfaAccounts.carol.password);
    await page.getByLabel('Authentication code').waitFor();
    const problems = await check(page, 'mfa challenge');
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('enrolment: the method choice, the QR page and the recovery codes', async function () {
    const page = await freshPage();
    await page.goto((await firstShop.startLogin({ scope: 'openid invoice' })).url.href);
    await signIn(page, server.mfaAccounts.nina.email, server.mfaAccounts.nina.password);
    await page.getByRole('heading', { name: 'Set up two-factor authentication' }).waitFor();
    const problems = await check(page, 'enrolment method choice');

    await page.getByRole('radio', { name: /^Authenticator app/ }).check();
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Continue' }).click()]);
    await page.locator('#manual-key').waitFor();
    problems.push(...await check(page, 'enrolment QR page'));

    const key = (await page.locator('#manual-key').getAttribute('data-key'))?.replace(/\s+/g, '') as string;
    await page.getByLabel('Authentication code').fill(await appCode(key));
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Verify code' }).click()]);
    await page.locator('#recovery-codes').waitFor();
    problems.push(...await check(page, 'recovery codes'));
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('the consent page of a third-party shop', async function () {
    const page = await freshPage();
    await page.goto((await partnerShop.startLogin({ scope: 'openid email' })).url.href);
    await signIn(page, server.accounts.bob.email, server.accounts.bob.password);
    await page.getByRole('heading', { name: 'Allow Partner Shop?' }).waitFor();
    const problems = await check(page, 'consent');
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('the provider\'s error page (a tampered interaction)', async function () {
    const page = await freshPage();
    await page.goto((await firstShop.startLogin()).url.href);
    const url = new URL(page.url());
    url.pathname = url.pathname.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'));
    const response = await page.goto(url.href);
    expect(response?.status()).to.equal(400);
    const problems = await check(page, 'error page');
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('the security console overview, the company admin page and the password form', async function () {
    const page = await freshPage();
    await page.goto(`${server.issuer}/account`);
    await signIn(page, admin.email, admin.password);
    await page.getByRole('heading', { level: 1, name: 'Security settings' }).waitFor();
    const problems = await check(page, 'console overview');

    await Promise.all([page.waitForLoadState('load'), page.locator('#company-link').click()]);
    await page.getByRole('heading', { level: 1, name: 'Accessible Corp' }).waitFor();
    expect(await page.getByRole('button', { name: 'Unlock Leo Locked' }).count(), 'the report shows the locked member').to.equal(1);
    problems.push(...await check(page, 'company admin'));
    // Times are written in UTC and shown in the browser's own time zone and language once the page's script ran.
    const lockTime = page.locator('td time[data-local]');
    expect(await lockTime.getAttribute('title')).to.match(/ UTC$/);
    expect(await lockTime.innerText()).to.not.include('UTC');
    // On a phone each member is a card: the actions are on screen, not beyond a table's right edge.
    const unlock = await page.getByRole('button', { name: 'Unlock Leo Locked' }).boundingBox();
    expect(unlock && unlock.x + unlock.width, 'the Unlock button is on screen').to.be.at.most(390);
    expect(unlock?.height, 'a 44 px tap target').to.be.at.least(44);

    // Opening the console is not a re-authentication: the form first asks to confirm who it is …
    await page.goto(`${server.issuer}/account/password`);
    await page.getByRole('button', { name: "Confirm it's you and continue" }).waitFor();
    problems.push(...await check(page, 'change password: confirm first'));
    // … then the password again, and the form itself shows.
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: "Confirm it's you and continue" }).click()]);
    await signIn(page, admin.email, admin.password);
    await page.getByLabel('New password', { exact: true }).waitFor();
    problems.push(...await check(page, 'change password'));
    // Switching to forced is confirmed on its own page.
    await page.goto(`${server.issuer}/account/company`);
    await page.getByRole('radio', { name: /^Forced/ }).check();
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Save policy' }).click()]);
    if (await page.getByLabel('Password').count() > 0) await signIn(page, admin.email, admin.password);
    if (await page.getByRole('button', { name: 'Save policy' }).count() > 0) {
      await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Save policy' }).click()]);
    }
    await page.getByRole('heading', { name: /Make two-factor authentication mandatory/ }).waitFor();
    problems.push(...await check(page, 'forced policy confirmation'));
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });
});
