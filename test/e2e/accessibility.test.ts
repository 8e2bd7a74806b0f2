/**
 * Accessibility of every page a shopper or company admin sees (the pages are server-rendered, work without JavaScript
 * and on a phone): axe-core's WCAG 2.1 A/AA and best-practice rules in headless Chromium at the phone viewport, one
 * pass per page, in English and in German (a browser whose language is German); a `serious` or `critical` violation
 * fails, and so does an English word or a message id shown on a German page. The walk finds fields, buttons and
 * headings by their ids and form actions, never by their words, so it is the same in both languages. No rule is disabled: should one misfire on a page, disable
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
import { englishLeftovers, shownIds, visibleWords } from '../helpers/page_words.ts';
import { Shop } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { failOnce } from '../factors/support.ts';

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

for (const language of ['en', 'de'] as const) {
  describe(`accessibility of the pages in ${language === 'en' ? 'English' : 'German'} (axe-core in headless Chromium, phone viewport)`, function () {
    this.timeout(60_000);
    const server = useTestServer(`e2e_accessibility_${language}`, { mailer: 'config' });
    const screenshots = artifactsDir(language === 'en' ? 'pages' : `pages-${language}`);
    let chromium: HeadlessChromium;
    let axeSource: string;
    let admin: { email: string; password: string };
    let firstShop: Shop;
    let partnerShop: Shop;

    before(async function () {
      chromium = await launchChromium({ locale: language === 'en' ? 'en-GB' : 'de-DE' });
      await rm(screenshots, { recursive: true, force: true });
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
      for (let i = 0; i < 5; i += 1) await failOnce(limiter, leo);
      [firstShop, partnerShop] = await Promise.all([
        Shop.discover(server.issuer, server.clients.firstParty),
        Shop.discover(server.issuer, server.clients.thirdParty),
      ]);
    });
    after(async function () {
      await chromium?.close();
    });

    /**
     * axe on the page as it is now, the page's words (a German page shows no English word and no message id), and its
     * screenshots at 390 px and 1280 px (`test-artifacts/pages/`, German in `test-artifacts/pages-de/`).
     */
    async function check(page: Page, label: string): Promise<string[]> {
      expect(await page.getAttribute('html', 'lang'), `${label}: <html lang>`).to.equal(language);
      const problems = await axeProblems(page, label);
      const words = await visibleWords(page);
      problems.push(...shownIds(words, label));
      if (language === 'de') problems.push(...englishLeftovers(words, label));
      await screenshotWidths(page, screenshots, label.replace(/[^a-z0-9]+/gi, '-').toLowerCase());
      return problems;
    }

    /** A fresh page in a signed-out browser (the previous pages closed). */
    async function freshPage(): Promise<Page> {
      await Promise.all(chromium.context.pages().map((open) => open.close()));
      await chromium.context.clearCookies();
      return chromium.context.newPage();
    }

    /** Waits for the page that renders `view` (`<body data-page>`). */
    async function onPage(page: Page, view: string): Promise<void> {
      await page.locator(`body[data-page="${view}"]`).waitFor();
    }

    /** Submits the form whose action ends with `action` (its first submit button). */
    async function submit(page: Page, action: string): Promise<void> {
      await Promise.all([page.waitForLoadState('load'), page.locator(`form[action$="${action}"] button[type=submit]`).first().click()]);
    }

    async function signIn(page: Page, email: string, password: string): Promise<void> {
      await page.locator('#email').fill(email);
      await page.locator('#password').fill(password);
      await submit(page, '/login');
    }

    it('the login page, and the login page after a wrong password', async function () {
      const page = await freshPage();
      await page.goto((await firstShop.startLogin()).url.href);
      await page.locator('#email').waitFor();
      // How axe gets in (see the file comment): not as an inline script tag, which our CSP refuses …
      await page.addScriptTag({ content: axeSource }).catch(() => undefined);
      expect(await page.evaluate('typeof window.axe'), 'an inline script ran despite script-src \'self\'').to.equal('undefined');
      // … but evaluated through the DevTools protocol, inside `axeProblems`.
      const problems = await check(page, 'login');
      // axe does not judge focus indicators: WCAG 2.1 SC 1.4.11 wants 3:1 against what surrounds them (the card).
      await page.locator('#email').focus();
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
      await onPage(page, 'mfa_challenge');
      const problems = await check(page, 'mfa challenge');
      expect(problems, problems.join('\n')).to.deep.equal([]);
    });

    it('enrolment: the method choice, the QR page and the recovery codes', async function () {
      const page = await freshPage();
      await page.goto((await firstShop.startLogin({ scope: 'openid invoice' })).url.href);
      await signIn(page, server.mfaAccounts.nina.email, server.mfaAccounts.nina.password);
      await onPage(page, 'mfa_enrol_choice');
      const problems = await check(page, 'enrolment method choice');

      await page.locator('input[type=radio][value=totp]').check();
      await submit(page, '/enrol/method');
      await page.locator('#manual-key').waitFor();
      problems.push(...await check(page, 'enrolment QR page'));

      const key = (await page.locator('#manual-key').getAttribute('data-key'))?.replace(/\s+/g, '') as string;
      await page.locator('input[name=code]').fill(await appCode(key));
      await Promise.all([page.waitForLoadState('load'), page.locator('form:has(input[name=code]) button[type=submit]').first().click()]);
      await page.locator('#recovery-codes').waitFor();
      problems.push(...await check(page, 'recovery codes'));
      expect(problems, problems.join('\n')).to.deep.equal([]);
    });

    it('the consent page of a third-party shop', async function () {
      const page = await freshPage();
      await page.goto((await partnerShop.startLogin({ scope: 'openid email' })).url.href);
      await signIn(page, server.accounts.bob.email, server.accounts.bob.password);
      await onPage(page, 'consent');
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
      await onPage(page, 'console/overview');
      const problems = await check(page, 'console overview');

      await Promise.all([page.waitForLoadState('load'), page.locator('#company-link').click()]);
      await onPage(page, 'console/company');
      const unlockButton = page.locator('form[action$="/unlock"] button');
      expect(await unlockButton.count(), 'the report shows the locked member').to.equal(1);
      expect(await unlockButton.getAttribute('aria-label')).to.include('Leo Locked');
      problems.push(...await check(page, 'company admin'));
      // Times are written in UTC and shown in the browser's own time zone and language once the page's script ran.
      const lockTime = page.locator('td time[data-local]');
      expect(await lockTime.getAttribute('title')).to.match(/ UTC$/);
      expect(await lockTime.innerText()).to.not.include('UTC');
      // On a phone each member is a card: the actions are on screen, not beyond a table's right edge.
      const unlock = await unlockButton.boundingBox();
      expect(unlock && unlock.x + unlock.width, 'the Unlock button is on screen').to.be.at.most(390);
      expect(unlock?.height, 'a 44 px tap target').to.be.at.least(44);

      // Opening the console is not a re-authentication: the form first asks to confirm who it is …
      await page.goto(`${server.issuer}/account/password`);
      await onPage(page, 'console/password');
      expect(await page.locator('#new-password').count()).to.equal(0);
      problems.push(...await check(page, 'change password: confirm first'));
      // … then the password again, and the form itself shows.
      await submit(page, '/account/password');
      await signIn(page, admin.email, admin.password);
      await page.locator('#new-password').waitFor();
      problems.push(...await check(page, 'change password'));
      // The language and time zone: two labelled lists, and the browser's zone proposed when none is stored.
      await (await page.context().newCDPSession(page)).send('Emulation.setTimezoneOverride', { timezoneId: 'Europe/Berlin' });
      await page.goto(`${server.issuer}/account/language`);
      expect(await page.locator('#time-zone').inputValue(), 'the browser\'s zone is proposed').to.equal('Europe/Berlin');
      problems.push(...await check(page, 'language and time zone'));
      // Switching to forced is confirmed on its own page.
      await page.goto(`${server.issuer}/account/company`);
      await page.locator('input[type=radio][name=policy][value=forced]').check();
      await submit(page, '/account/company/policy');
      if (await page.locator('#password').count() > 0) await signIn(page, admin.email, admin.password);
      if (await page.locator('body[data-page="console/company"]').count() > 0) await submit(page, '/account/company/policy');
      await onPage(page, 'console/company_policy_confirm');
      problems.push(...await check(page, 'forced policy confirmation'));
      expect(problems, problems.join('\n')).to.deep.equal([]);
    });
  });
}
