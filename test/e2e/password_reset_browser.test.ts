/**
 * "Forgot your password?" end to end in headless Chromium: from the shop's sign-in page to a new password, the mail
 * read from an in-process SMTP server, the old sign-ins and refresh token dead, the second factor still asked, and
 * back at the shop. Every page passes axe and is kept as screenshots at 390 px and 1280 px in
 * `test-artifacts/password-reset/`.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { expect } from 'chai';
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { ACR } from '../../src/policy/acr.ts';
import { newCustomer } from '../console/support.ts';
import { appCode, enrolTotp } from '../factors/support.ts';
import { launchChromium, type HeadlessChromium } from '../helpers/browser.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { artifactsDir, axeProblems, screenshotWidths } from '../helpers/page_checks.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, Shop, findForm } from '../helpers/shop.ts';
import { nextCode, submitCode } from '../helpers/step_up.ts';
import { startSmtp, type ReceivedMail, type TestSmtp } from '../mail/support.ts';

const SCREENSHOTS = artifactsDir('password-reset');

describe('forgot password in a real browser (headless Chromium)', function () {
  this.timeout(120_000);
  let chromium: HeadlessChromium;
  let shopSite: Server;
  let smtp: TestSmtp;
  before(async function () {
    shopSite = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html lang="en"><title>Shop</title><p>Back at the shop</p></html>');
    });
    shopSite.listen(0, '127.0.0.1');
    await once(shopSite, 'listening');
    smtp = await startSmtp();
    await rm(SCREENSHOTS, { recursive: true, force: true });
  });
  const server = useTestServer('e2e_password_reset', () => ({
    shopOrigin: `http://localhost:${(shopSite.address() as AddressInfo).port}`,
    env: { SMTP_URL: smtp.url, ISSUER_NAME: 'Reset Shop' },
    mailer: 'config',
  }));
  const clock = useFrozenClock();
  before(async function () {
    chromium = await launchChromium();
  });
  after(async function () {
    await chromium?.close();
    await smtp?.close();
    shopSite?.closeAllConnections();
    shopSite?.close();
  });

  async function mailTo(address: string, count: number): Promise<ReceivedMail> {
    const to = (): ReceivedMail[] => smtp.received.filter((mail) => mail.envelopeTo.includes(address));
    while (to().length < count) await smtp.next();
    return to()[count - 1] as ReceivedMail;
  }

  async function click(page: Page, name: string): Promise<void> {
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name }).click()]);
  }

  it('asks from the sign-in page, sets a new password from the mail, ends the old sign-ins, and still asks for the code', async function () {
    const customer = await newCustomer(server, 'rita');
    const secret = await enrolTotp(server.factors.get('totp') as TotpFactor, customer);
    const shop = await Shop.discover(server.issuer, server.clients.firstParty);
    // The old password's sign-in elsewhere: a refresh token of the shop.
    const elsewhere = new Browser([server.clients.firstParty.redirectUri]);
    const old = await shop.startLogin({ scope: 'openid email offline_access', prompt: 'consent', acr_values: ACR.mfa });
    const challenge = await elsewhere.submit(findForm(await elsewhere.go(old.url.href), '/login'), { email: customer.email, password: customer.password });
    const consent = await submitCode(elsewhere, challenge, await nextCode(clock, secret));
    const oldTokens = await shop.finishLogin(old, (await elsewhere.submit(findForm(consent, '/confirm'))).url);

    const problems: string[] = [];
    const page = await chromium.context.newPage();
    const pending = await shop.startLogin();
    await page.goto(pending.url.href);
    await Promise.all([page.waitForLoadState('load'), page.getByRole('link', { name: 'Forgot your password?' }).click()]);
    await page.getByRole('heading', { name: 'Reset your password' }).waitFor();
    const requestUrl = page.url();
    problems.push(...await axeProblems(page, 'reset request'));
    await screenshotWidths(page, SCREENSHOTS, '01-request');
    await page.getByLabel('Email').fill(customer.email);
    await click(page, 'Email me a link');
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    const sentText = await page.locator('main').innerText();
    problems.push(...await axeProblems(page, 'reset sent'));
    await screenshotWidths(page, SCREENSHOTS, '02-sent');

    // An unknown address asked the same way gets the same page, word for word.
    const probe = await chromium.context.newPage();
    await probe.goto(requestUrl);
    await probe.getByLabel('Email').fill('nobody-at-all@example.com');
    await click(probe, 'Email me a link');
    expect((await probe.locator('main').innerText()).replace('nobody-at-all@example.com', customer.email)).to.equal(sentText);
    await probe.close();

    const mail = await mailTo(customer.email, 1);
    const link = /http:\/\/127\.0\.0\.1:\d+\/password-reset\/new\?token=[A-Za-z0-9_-]{43}/.exec(mail.parsed.text ?? '')?.[0] as string;
    expect(link, mail.parsed.text).to.be.a('string');
    expect(mail.parsed.html).to.include(link.replace(/&/g, '&amp;'));
    await page.goto(link);
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    problems.push(...await axeProblems(page, 'new password'));
    await screenshotWidths(page, SCREENSHOTS, '03-new-password');
    await page.getByLabel('New password', { exact: true }).fill('short');
    await page.getByLabel('New password again').fill('short');
    await click(page, 'Save new password');
    await page.getByRole('alert').waitFor();
    problems.push(...await axeProblems(page, 'new password refused'));
    await screenshotWidths(page, SCREENSHOTS, '04-new-password-refused');
    await page.getByLabel('New password', { exact: true }).fill('rita has a new passphrase');
    await page.getByLabel('New password again').fill('rita has a new passphrase');
    await click(page, 'Save new password');
    await page.getByRole('heading', { name: 'Your password was changed' }).waitFor();
    problems.push(...await axeProblems(page, 'reset done'));
    await screenshotWidths(page, SCREENSHOTS, '05-done');

    // The old sign-ins are dead.
    try {
      await oidc.refreshTokenGrant(shop.config, oldTokens.refresh_token as string);
      expect.fail('the refresh token outlived the reset');
    } catch (err) {
      expect((err as { error?: string }).error).to.equal('invalid_grant');
    }
    const silent = await shop.startLogin({ prompt: 'none' });
    expect(new URL((await elsewhere.go(silent.url.href)).url).searchParams.get('error')).to.equal('login_required');

    // Back to the same sign-in: the new password, then the code (the link was not a second factor), then the shop.
    await Promise.all([page.waitForLoadState('load'), page.getByRole('link', { name: 'Continue signing in' }).click()]);
    await page.getByLabel('Email').fill(customer.email);
    await page.getByLabel('Password').fill('rita has a new passphrase');
    await click(page, 'Sign in');
    clock.tick(30_000);
    await page.getByLabel('Authentication code').fill(await appCode(secret));
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(server.clients.firstParty.redirectUri)),
      page.getByRole('button', { name: 'Verify code' }).click(),
    ]);
    const tokens = await shop.finishLogin(pending, page.url());
    expect(tokens.claims()?.sub).to.equal(customer.id);
    expect(tokens.claims()?.amr).to.include('otp');

    // The link again: a clear page and a way on.
    await page.goto(link);
    await page.getByRole('heading', { name: 'This link was already used' }).waitFor();
    problems.push(...await axeProblems(page, 'link used'));
    await screenshotWidths(page, SCREENSHOTS, '06-link-used');
    const notice = await mailTo(customer.email, 2);
    expect(notice.parsed.subject).to.equal('The password of your Reset Shop account was reset');
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });
});
