/**
 * Threats against the password reset by email, each tried over HTTP against the real provider, mail through a real
 * SMTP server in the process:
 * - account enumeration: the reset page (its words, status and timing class) tells a registered address from an
 *   unknown or a disabled one;
 * - a reset link replayed, used late, used twice at once, forged, or used after the password changed again;
 * - the sign-ins of whoever knew the old password (sessions, refresh and access tokens) outliving the reset;
 * - a reset link used as a second factor: the mailbox alone signs in past two-factor authentication;
 * - mail bombing a customer, or flooding the provider from one address.
 * Rules: docs/SECURITY.md "Password reset".
 */
import { expect } from 'chai';
import * as oidc from 'openid-client';
import { setAccountStatus, setPassword } from '../../src/accounts/accounts.ts';
import { listEvents } from '../../src/audit/audit_log.ts';
import type { Factor } from '../../src/factors/contract.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { PER_ADDRESS, PER_IP, networkOf } from '../../src/password_reset/pages.ts';
import { ACR } from '../../src/policy/acr.ts';
import { isLoginForm, newCustomer, type Customer } from '../console/support.ts';
import { enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, signIn, useShop, type Page } from '../helpers/shop.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';
import { startSmtp, type ReceivedMail, type TestSmtp } from '../mail/support.ts';

const HOUR = 3_600_000;

describe('password reset by email: the attacks it must withstand', function () {
  let smtp: TestSmtp;
  /** While set, the SMTP server accepts no message (a slow mail server). */
  let gate: { promise: Promise<void>; open: () => void } | undefined;
  before(async function () {
    smtp = await startSmtp({ hold: () => gate?.promise ?? Promise.resolve() });
  });
  after(async function () {
    await smtp?.close();
  });
  const server = useTestServer('password_reset_attacks', () => ({ env: { SMTP_URL: smtp.url, ISSUER_NAME: 'Reset Test Shop' }, mailer: 'config' }));
  const shop = useShop(server);
  const clock = useFrozenClock();
  // Every test starts in a fresh hour: the per-IP window of the one test address (127.0.0.1) starts empty.
  beforeEach(function () {
    clock.tick(HOUR + 1000);
  });

  /** Mails to `address` received so far. */
  function mailsTo(address: string): ReceivedMail[] {
    return smtp.received.filter((mail) => mail.envelopeTo.includes(address));
  }

  /** Waits until `count` mails to `address` have arrived. */
  async function mailTo(address: string, count = 1): Promise<ReceivedMail> {
    while (mailsTo(address).length < count) await smtp.next();
    return mailsTo(address)[count - 1] as ReceivedMail;
  }

  /** The reset link in a mail (its plain-text part). */
  function linkIn(mail: ReceivedMail): string {
    const match = /(http:\/\/127\.0\.0\.1:\d+\/password-reset\/new\?token=[A-Za-z0-9_-]{43})/.exec(mail.parsed.text ?? '');
    if (!match?.[1]) throw new Error(`no reset link in:\n${mail.parsed.text ?? ''}`);
    return match[1];
  }

  /** Asks for a reset link for `email` from `browser`, as the form does. */
  async function askReset(browser: Browser, email: string): Promise<Page> {
    const form = await browser.go(`${server.issuer}/password-reset`);
    expect(form.status).to.equal(200);
    return browser.submit(findForm(form, 'reset-request'), { email });
  }

  /** Links already handed out by {@link resetLinkFor}. */
  const seenLinks = new Set<string>();

  /** Asks for a link and returns it from its mail (mails arrive in any order: the first link not seen before). */
  async function resetLinkFor(browser: Browser, customer: Customer): Promise<string> {
    const sent = await askReset(browser, customer.email);
    expect(sent.status).to.equal(200);
    for (;;) {
      const link = mailsTo(customer.email).map((mail) => /\/password-reset\/new\?token=/.test(mail.parsed.text ?? '') ? linkIn(mail) : undefined)
        .find((candidate) => candidate !== undefined && !seenLinks.has(candidate));
      if (link) {
        seenLinks.add(link);
        return link;
      }
      await smtp.next();
    }
  }

  /** Opens the link and submits a new password; returns the page after it. */
  async function useLink(browser: Browser, link: string, password: string): Promise<Page> {
    const form = await browser.go(link);
    expect(form.status, form.html.slice(0, 600)).to.equal(200);
    return browser.submit(findForm(form, 'new-password-form'), { password, confirm: password });
  }

  function visibleText(page: Page, ...remove: string[]): string {
    let text = page.html.replace(/name="csrf" value="[^"]*"/g, '').replace(/nonce="[^"]*"/g, '');
    for (const value of remove) text = text.split(value).join('EMAIL');
    return text;
  }

  it('answers a registered, an unknown and a disabled address with the same page, before any mail is sent', async function () {
    const known = await newCustomer(server, 'enum-known');
    const disabled = await newCustomer(server, 'enum-disabled');
    await setAccountStatus(server.conn, disabled.id, 'disabled');
    const unknown = 'enum-nobody@example.com';
    let open = (): void => undefined;
    gate = { promise: new Promise<void>((resolve) => { open = resolve; }), open };
    try {
      const received = smtp.received.length;
      const pages = [await askReset(new Browser(), known.email), await askReset(new Browser(), unknown), await askReset(new Browser(), disabled.email)];
      // Every answer came back while the mail server accepted nothing: none waited for a mail (same timing class).
      expect(smtp.received.length).to.equal(received);
      expect(pages.map((page) => page.status)).to.deep.equal([200, 200, 200]);
      const [first, ...others] = [visibleText(pages[0] as Page, known.email), visibleText(pages[1] as Page, unknown), visibleText(pages[2] as Page, disabled.email)];
      for (const other of others) expect(other).to.equal(first);
      expect(first).to.include('Check your email');
    } finally {
      gate.open();
      gate = undefined;
    }
    const mail = await mailTo(known.email);
    expect(mail.parsed.subject).to.equal('Reset your Reset Test Shop password');
    // a sentinel after them: the unknown and the disabled address got nothing
    const sentinel = await newCustomer(server, 'enum-sentinel');
    await resetLinkFor(new Browser(), sentinel);
    expect(mailsTo(unknown)).to.have.length(0);
    expect(mailsTo(disabled.email)).to.have.length(0);
  });

  it('a reset ends every earlier sign-in and token, signs nobody in, and the next sign-in still asks for the second factor', async function () {
    const customer = await newCustomer(server, 'victim');
    const totp = server.factors.all.find((factor) => factor.role === 'primary' && !factor.challenge) as TotpFactor;
    const secret = await enrolTotp(totp, customer);
    customer.totpSecret = secret;
    // Someone who knew the old password: a browser signed in (with the code) and a refresh token.
    const attacker = new Browser([server.clients.firstParty.redirectUri]);
    const pending = await shop.startLogin({ scope: 'openid email offline_access', prompt: 'consent', acr_values: ACR.mfa });
    const login = await attacker.go(pending.url.href);
    const challenge = await attacker.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
    const consent = await submitCode(attacker, challenge, await nextCode(clock, secret));
    const landed = await attacker.submit(findForm(consent, '/confirm'));
    const tokens = await shop.finishLogin(pending, landed.url);
    expect(tokens.refresh_token).to.be.a('string');

    const browser = new Browser([server.clients.firstParty.redirectUri]);
    const done = await useLink(browser, await resetLinkFor(browser, customer), 'a brand new passphrase');
    expect(done.status).to.equal(200);
    expect(done.html).to.include('Your password was changed').and.include('Your next sign-in also asks for your two-factor authentication (2FA) code');

    // the old sign-ins are dead
    const silent = await shop.startLogin({ prompt: 'none' });
    expect(new URL((await attacker.go(silent.url.href)).url).searchParams.get('error')).to.equal('login_required');
    try {
      await oidc.refreshTokenGrant(shop.config, tokens.refresh_token as string);
      expect.fail('the refresh token outlived the reset');
    } catch (err) {
      expect((err as { error?: string }).error).to.equal('invalid_grant');
    }
    expect((await oidc.tokenIntrospection(shop.config, tokens.access_token)).active).to.equal(false);

    // the reset signed nobody in: the shop's plain sign-in shows the password form, and the new password is not enough
    const next = await shop.startLogin();
    const form = await browser.go(next.url.href);
    expect(isLoginForm(form)).to.equal(true);
    const asked = await browser.submit(findForm(form, '/login'), { email: customer.email, password: 'a brand new passphrase' });
    expect(isChallenge(asked), `the second factor was not asked:\n${asked.html.slice(0, 500)}`).to.equal(true);
    const back = await submitCode(browser, asked, await nextCode(clock, secret));
    expect(back.status).to.equal(0);
    expect((await shop.finishLogin(next, back.url)).claims()?.acr).to.not.equal(undefined);
    // proven once: the next plain sign-in is the shop's ordinary password sign-in again
    const again = await signIn(shop, new Browser([server.clients.firstParty.redirectUri]), { email: customer.email, password: 'a brand new passphrase' });
    expect(again.callbackUrl).to.include('code=');

    const reset = (await listEvents(server.conn, customer.id)).find((event) => event.event === 'password_reset');
    expect(reset?.details).to.include({ otherBrowser: false, providerSessionsEnded: 1 });
    expect(JSON.stringify(reset)).to.not.include('a brand new passphrase');
    const notice = await mailTo(customer.email, 2);
    expect(notice.parsed.subject).to.equal('The password of your Reset Test Shop account was reset');
    expect(notice.parsed.text).to.include('Link opened in: the browser that asked for it');
  });

  it('the mailbox alone never passes: after a reset a mailed code is not the second factor due, only the app is', async function () {
    const customer = await newCustomer(server, 'mailboxonly');
    const secret = await enrolTotp(server.factors.get('totp') as TotpFactor, customer);
    const email = server.factors.get('email_code') as Factor;
    const before = mailsTo(customer.email).length;
    expect((await email.enrol?.begin(customer))?.ok).to.equal(true);
    const enrolCode = /\b(\d{6})\b/.exec((await mailTo(customer.email, before + 1)).parsed.text ?? '')?.[1] as string;
    expect((await email.enrol?.confirm?.(customer.id, enrolCode))?.ok).to.equal(true);

    const browser = new Browser([server.clients.firstParty.redirectUri]);
    expect((await useLink(browser, await resetLinkFor(browser, customer), 'reset by the mailbox owner')).status).to.equal(200);
    // The attacker holds the mailbox: the challenge offers no mailed code, and a forged post of one is refused unsent.
    const pending = await shop.startLogin({ acr_values: ACR.mfa });
    const asked = await browser.submit(findForm(await browser.go(pending.url.href), '/login'), { email: customer.email, password: 'reset by the mailbox owner' });
    expect(isChallenge(asked)).to.equal(true);
    expect(asked.html).to.not.include('/mfa/send').and.not.include('method=email_code');
    const mailsBefore = mailsTo(customer.email).length;
    const csrf = findForm(asked, '/mfa').fields.csrf as string;
    const forged = await browser.request(findForm(asked, '/mfa').action, {
      method: 'POST', body: new URLSearchParams({ csrf, method: 'email_code', code: '123456' }), headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(forged.status).to.equal(400);
    expect(forged.html).to.include('This method is not set up for your account');
    const sendForged = await browser.request(findForm(asked, '/mfa').action.replace(/\/mfa$/, '/mfa/send'), {
      method: 'POST', body: new URLSearchParams({ csrf, method: 'email_code' }), headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(sendForged.status).to.equal(400);
    expect(mailsTo(customer.email)).to.have.length(mailsBefore);
    // The app passes, and clears what was due.
    const back = await submitCode(browser, asked, await nextCode(clock, secret));
    expect(back.status).to.equal(0);
    expect((await shop.finishLogin(pending, back.url)).claims()?.sub).to.equal(customer.id);
  });

  it('a link works once: a second use, a use after 30 minutes and a forged token each get a clear page', async function () {
    const customer = await newCustomer(server, 'replay');
    const browser = new Browser();
    const link = await resetLinkFor(browser, customer);
    expect((await useLink(browser, link, 'first new password')).status).to.equal(200);
    const reused = await browser.go(link);
    expect(reused.status).to.equal(410);
    expect(reused.html).to.include('This link was already used');

    const late = await resetLinkFor(browser, customer);
    const form = await browser.go(late);
    clock.tick(30 * 60_000 + 1000);
    const expired = await browser.submit(findForm(form, 'new-password-form'), { password: 'too late password', confirm: 'too late password' });
    expect(expired.status).to.equal(410);
    expect(expired.html).to.include('This link has expired');
    expect((await browser.go(late)).html).to.include('This link has expired');

    const forged = new URL(link);
    forged.searchParams.set('token', 'A'.repeat(43));
    for (const url of [forged.href, `${server.issuer}/password-reset/new`, `${server.issuer}/password-reset/new?token=x&token=y`]) {
      const page = await browser.go(url);
      expect(page.status, url).to.equal(410);
      expect(page.html).to.include('This link does not work').and.include('Ask for a new link');
    }
    expect((await signIn(shop, new Browser([server.clients.firstParty.redirectUri]), { email: customer.email, password: 'first new password' })).callbackUrl).to.include('code=');
  });

  it('two submissions of one link in flight: exactly one sets its password', async function () {
    const customer = await newCustomer(server, 'race');
    const browser = new Browser();
    const form = await browser.go(await resetLinkFor(browser, customer));
    const submit = findForm(form, 'new-password-form');
    const pages = await Promise.all([
      browser.submit(submit, { password: 'racer number one', confirm: 'racer number one' }),
      browser.submit(submit, { password: 'racer number two', confirm: 'racer number two' }),
    ]);
    expect(pages.map((page) => page.status).sort()).to.deep.equal([200, 410]);
    const winner = pages[0]?.status === 200 ? 'racer number one' : 'racer number two';
    expect((await signIn(shop, new Browser([server.clients.firstParty.redirectUri]), { email: customer.email, password: winner })).callbackUrl).to.include('code=');
  });

  it('a link dies with any later change of credentials, and with the reset done by another link', async function () {
    const customer = await newCustomer(server, 'outlived');
    const browser = new Browser();
    const first = await resetLinkFor(browser, customer);
    const second = await resetLinkFor(browser, customer);
    await setPassword(server.conn, customer.id, 'changed by the customer meanwhile');
    for (const link of [first, second]) expect((await browser.go(link)).status).to.equal(410);

    const third = await resetLinkFor(browser, customer);
    const fourth = await resetLinkFor(browser, customer);
    expect((await useLink(browser, third, 'reset with the third link')).status).to.equal(200);
    expect((await browser.go(fourth)).status).to.equal(410);
  });

  it('a link opened in another browser works, and the mail says so', async function () {
    const customer = await newCustomer(server, 'elsewhere');
    const link = await resetLinkFor(new Browser(), customer);
    const done = await useLink(new Browser(), link, 'set from a second browser');
    expect(done.status).to.equal(200);
    // no sign-in to return to in this browser: it signs in through the security settings
    expect(done.html).to.include('href="/account"');
    const notice = await mailTo(customer.email, 2);
    expect(notice.parsed.text).to.include('opened in a different browser than the one that asked for it');
  });

  it(`mails at most ${PER_ADDRESS} links per address and hour, with the same page every time`, async function () {
    const customer = await newCustomer(server, 'bombed');
    const pages: Page[] = [];
    for (let i = 0; i < PER_ADDRESS + 2; i += 1) pages.push(await askReset(new Browser(), customer.email));
    expect(new Set(pages.map((page) => `${page.status} ${visibleText(page)}`)).size).to.equal(1);
    await mailTo(customer.email, PER_ADDRESS);
    const sentinel = await newCustomer(server, 'bombed-sentinel');
    await resetLinkFor(new Browser(), sentinel);
    expect(mailsTo(customer.email)).to.have.length(PER_ADDRESS);
    clock.tick(HOUR);
    await resetLinkFor(new Browser(), customer);
  });

  it(`answers 429 with the wait after ${PER_IP} requests from one IP address in an hour`, async function () {
    for (let i = 0; i < PER_IP; i += 1) expect((await askReset(new Browser(), `flood-${i}@example.com`)).status).to.equal(200);
    const refused = await askReset(new Browser(), 'flood-last@example.com');
    expect(refused.status).to.equal(429);
    expect(Number(refused.headers.get('retry-after'))).to.be.within(1, 3600);
    expect(refused.html).to.include('Too many requests from your network. Try again in');
  });

  it('refuses a forged form, bad input and a password the rules refuse, without using the link', async function () {
    const customer = await newCustomer(server, 'malformed');
    const stranger = new Browser();
    const noCookie = await stranger.go(`${server.issuer}/password-reset`, {
      method: 'POST', body: new URLSearchParams({ email: customer.email, csrf: 'x' }), headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(noCookie.status).to.equal(403);
    const browser = new Browser();
    const form = await browser.go(`${server.issuer}/password-reset`);
    for (const email of ['', 'not-an-address', 'x'.repeat(5000)]) {
      const page = await browser.submit(findForm(form, 'reset-request'), { email });
      expect(page.status, email.slice(0, 20)).to.equal(400);
      expect(page.html).to.include('Enter the email address of your account');
    }
    const link = await resetLinkFor(browser, customer);
    const choose = await browser.go(link);
    for (const [password, confirm, text] of [['short', 'short', 'too short'], ['long enough one', 'long enough two', 'do not match'], [customer.email, customer.email, 'must not be your email']] as const) {
      const page = await browser.submit(findForm(choose, 'new-password-form'), { password, confirm });
      expect(page.status).to.equal(400);
      expect(page.html).to.include(text);
    }
    expect((await browser.submit(findForm(choose, 'new-password-form'), { csrf: 'forged', password: 'good new password', confirm: 'good new password' })).status).to.equal(403);
    // none of it used the link
    expect((await useLink(browser, link, 'good new password')).status).to.equal(200);
  });

  it('the sign-in page offers the reset and returns to the same sign-in after it', async function () {
    const customer = await newCustomer(server, 'returning');
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    const pending = await shop.startLogin();
    const login = await browser.go(pending.url.href);
    const forgot = /href="(\/password-reset\?interaction=[^"]+)"/.exec(login.html)?.[1];
    expect(forgot, 'a "Forgot your password?" link').to.be.a('string');
    const request = await browser.go(`${server.issuer}${(forgot as string).replace(/&amp;/g, '&')}`);
    const before = mailsTo(customer.email).length;
    await browser.submit(findForm(request, 'reset-request'), { email: customer.email });
    const done = await useLink(browser, linkIn(await mailTo(customer.email, before + 1)), 'back to the shop please');
    const next = /id="continue" href="([^"]+)"/.exec(done.html)?.[1];
    expect(next).to.match(/^\/interaction\//);
    const again = await browser.go(`${server.issuer}${next as string}`);
    expect(isLoginForm(again)).to.equal(true);
    const back = await browser.submit(findForm(again, '/login'), { email: customer.email, password: 'back to the shop please' });
    expect(back.status).to.equal(0);
    expect((await shop.finishLogin(pending, back.url)).claims()?.sub).to.equal(customer.id);
  });
});

describe('password reset behind a proxy: the per-IP limit counts the network the proxy saw', function () {
  const server = useTestServer('password_reset_proxy', { env: { TRUST_PROXY: 'true' }, mailer: 'config' });

  it('counts one IPv6 /64 as one network, and ignores X-Forwarded-For entries the client wrote itself', async function () {
    expect(networkOf('2001:db8:1:2:3:4:5:6')).to.equal(networkOf('2001:db8:1:2::ffff'));
    expect(networkOf('2001:db8:1:3::1')).to.not.equal(networkOf('2001:db8:1:2::1'));
    expect(networkOf('::ffff:192.0.2.7')).to.equal('192.0.2.7');
    // The nearest proxy appends the address it saw (203.0.113.9); whatever the client put before it does not count.
    let last = 0;
    for (let i = 0; i <= PER_IP; i += 1) {
      const browser = new Browser();
      const form = await browser.go(`${server.issuer}/password-reset`);
      const page = await browser.go(findForm(form, 'reset-request').action, {
        method: 'POST',
        body: new URLSearchParams({ ...findForm(form, 'reset-request').fields, email: `spoof-${i}@example.com` }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': `198.51.100.${i}, 203.0.113.9` },
      });
      last = page.status;
    }
    expect(last, `the ${PER_IP + 1}th request from one network`).to.equal(429);
  });
});

describe('password reset behind two proxies (TRUST_PROXY=2): the client is the entry the first proxy appended', function () {
  const server = useTestServer('password_reset_two_proxies', { env: { TRUST_PROXY: '2' }, mailer: 'config' });

  it('counts each client the TLS proxy saw on its own, whatever it wrote before', async function () {
    for (let i = 0; i <= PER_IP; i += 1) {
      const browser = new Browser();
      const form = await browser.go(`${server.issuer}/password-reset`);
      const page = await browser.go(findForm(form, 'reset-request').action, {
        method: 'POST',
        body: new URLSearchParams({ ...findForm(form, 'reset-request').fields, email: `two-hops-${i}@example.com` }),
        // forged by the client, then the client's address (added by the TLS proxy), then the TLS proxy (added by the balancer)
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': `198.51.100.${i}, 203.0.113.${i % 2}, 192.0.2.1` },
      });
      // two clients sharing the proxies: each gets its own window of PER_IP
      expect(page.status, `request ${i}`).to.equal(200);
    }
  });
});
