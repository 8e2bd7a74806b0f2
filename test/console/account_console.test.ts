import { expect } from 'chai';
import { listEvents } from '../../src/audit/audit_log.ts';
import { createMethodChoice } from '../../src/factors/method_choice.ts';
import { ACR, LEVEL } from '../../src/policy/acr.ts';
import { signInMfaEnabled } from '../../src/accounts/accounts.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { appCode, enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, Shop, findForm } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { manualKeyOf, nextCode } from '../helpers/step_up.ts';
import {
  authenticate, lastCodeMailedTo, mailsTo, newCustomer, pushedParams, recoveryCodesOn, signInConsole, submitWithReauth, type Customer,
} from './support.ts';

/** The security settings console at /account (docs/ARCHITECTURE.md), over HTTP like a browser. */
describe('account console: security settings', function () {
  const server = useTestServer('account_console', { mailer: 'config' });
  const clock = useFrozenClock();

  it('signs in through the provider (code + PKCE as the account-console client) and lists the methods', async function () {
    const browser = new Browser();
    const first = await browser.request(`${server.issuer}/account`);
    expect(first.status).to.equal(303);
    const auth = new URL(first.headers.get('location') ?? '', server.issuer);
    expect(auth.pathname).to.equal('/auth');
    // The request is pushed (RFC 9126): the browser carries only the client and a reference to it.
    expect([...auth.searchParams.keys()].sort()).to.deep.equal(['client_id', 'request_uri']);
    expect(auth.searchParams.get('client_id')).to.equal('account-console');
    const pushed = await pushedParams(server, auth.href);
    expect(pushed.get('code_challenge_method')).to.equal('S256');
    expect(pushed.get('redirect_uri')).to.equal(`${server.issuer}/account/callback`);
    expect(pushed.get('state')).to.have.length.greaterThan(20);
    expect(pushed.get('nonce')).to.have.length.greaterThan(20);
    expect(pushed.get('max_age'), 'opening the console is a sign-in, not a re-authentication').to.equal(null);

    const alice = { ...server.accounts.alice };
    const overview = await authenticate(browser, await browser.go(auth.href), alice, clock);
    expect(overview.status).to.equal(200);
    expect(overview.headers.get('cache-control')).to.include('no-store');
    expect(overview.html).to.include('alice@example.com');
    expect(overview.html).to.include('data-method="totp" data-enrolled="false"');
    expect(overview.html).to.include('data-method="email_code" data-enrolled="false"');
    // no factor yet: no "ask at every sign-in" switch, no recovery codes
    expect(overview.html).to.not.include('id="sign-in-mfa"');
    expect(overview.html).to.not.include('id="recovery-remaining"');
    expect(overview.html, 'the summary says 2FA is off').to.match(/id="two-factor-summary" data-two-factor="off">Two-factor authentication \(2FA\): <strong>off<\/strong>/);
    // the session cookie is signed and scoped to /account
    const cookies = await browser.jar.getCookies(`${server.issuer}/account`);
    expect(cookies.map((cookie) => cookie.key)).to.include.members(['account_session', 'account_session.sig']);
  });

  it('adds an authenticator app after re-authentication: wrong code refused, new QR, then recovery codes shown once', async function () {
    const customer = await newCustomer(server, 'tara');
    const browser = new Browser();
    let page = await signInConsole(server, browser, customer, clock);
    clock.tick(6 * 60_000); // the sign-in is no longer recent
    const { page: start, reauthenticated } = await submitWithReauth(browser, page, '/account/methods/totp/add', customer, clock);
    expect(reauthenticated).to.equal(true);
    expect(start.url).to.equal(`${server.issuer}/account/methods/totp/add`);
    expect(start.html).to.include('data-pending="true"');
    page = await browser.submit(findForm(start, '/account/methods/totp/add'));
    expect(page.html).to.include('<img src="data:image/png;base64,');
    const firstKey = manualKeyOf(page);

    const wrong = await browser.submit(findForm(page, 'confirm-form'), { code: '000000' });
    expect(wrong.status).to.equal(400);
    expect(wrong.html).to.include('Invalid authentication code — try again with a new code');
    expect(manualKeyOf(wrong)).to.equal(firstKey);

    const renewed = await browser.submit(findForm(wrong, 'renew-form'));
    const secret = manualKeyOf(renewed);
    expect(secret).to.not.equal(firstKey);
    const done = await browser.submit(findForm(renewed, 'confirm-form'), { code: await nextCode(clock, secret) });
    expect(done.status).to.equal(200);
    const codes = recoveryCodesOn(done);
    expect(codes).to.have.length(10);
    expect(done.html).to.include('download="recovery-codes.txt"');

    const overview = await browser.go(`${server.issuer}/account`);
    expect(overview.html).to.include('data-method="totp" data-enrolled="true"');
    expect(overview.html).to.include('data-remaining="10"');
    expect(overview.html, 'the summary says 2FA is on').to.match(/data-two-factor="on">Two-factor authentication \(2FA\): <strong>on<\/strong> · 10 recovery codes left/);
    expect(overview.html).to.include('data-state="on"');
    expect(overview.html).to.not.include(codes[0] as string);
    expect(await signInMfaEnabled(server.conn, customer.id)).to.equal(true);
    expect(mailsTo(server, customer.email).some((mail) => /added/i.test(mail.subject))).to.equal(true);
    const events = (await listEvents(server.conn, customer.id)).map((event) => event.event);
    expect(events).to.include.members(['factor_added', 'sign_in_mfa_enabled']);
    expect(overview.html).to.include('Sign-in method added: Authenticator app');
  });

  it('replaces the authenticator app in one action (a new phone): the old app works until the new one is confirmed, then only the new one', async function () {
    const customer = await newCustomer(server, 'phoebe');
    customer.totpSecret = await enrolTotp(server.factors.get('totp') as TotpFactor, customer);
    const oldSecret = customer.totpSecret;
    const browser = new Browser();
    const overview = await signInConsole(server, browser, customer, clock);
    expect(overview.html).to.include('Replace authenticator app (new phone)');
    clock.tick(6 * 60_000);
    const { page: start, reauthenticated } = await submitWithReauth(browser, overview, '/account/methods/totp/replace', customer, clock);
    expect(reauthenticated).to.equal(true);
    expect(start.url).to.equal(`${server.issuer}/account/methods/totp/replace`);
    expect(start.html).to.include('Replace authenticator app').and.include('id="replace-note"');
    const qr = await browser.submit(findForm(start, '/account/methods/totp/replace'));
    const newSecret = manualKeyOf(qr);
    expect(newSecret).to.not.equal(oldSecret);
    // until the new one is confirmed, the old app is the account's app
    const totp = server.factors.get('totp') as TotpFactor;
    clock.tick(30_000);
    expect((await totp.verify(customer.id, await appCode(oldSecret))).ok).to.equal(true);
    const wrong = await browser.submit(findForm(qr, 'confirm-form'), { code: '' });
    expect(wrong.status).to.equal(400);
    const done = await browser.submit(findForm(wrong, 'confirm-form'), { code: await nextCode(clock, newSecret) });
    expect(done.url).to.equal(`${server.issuer}/account?done=factor_replaced`);
    expect(done.html).to.include('Your authenticator app was replaced');
    expect(done.html).to.include('data-method="totp" data-enrolled="true"');
    clock.tick(30_000);
    expect((await totp.verify(customer.id, await appCode(oldSecret))).ok, 'the old phone still works').to.equal(false);
    expect((await totp.verify(customer.id, await appCode(newSecret))).ok).to.equal(true);
    const added = (await listEvents(server.conn, customer.id)).find((event) => event.event === 'factor_added');
    expect(added?.details).to.include({ replaced: true });
    // replacing a method that is not set up, or one that is not replaceable, is refused
    const notSetUp = await browser.go(`${server.issuer}/account/methods/email_code/replace`);
    expect(notSetUp.status).to.equal(400);
    expect(notSetUp.html).to.include("This sign-in method does not exist");
  });

  it('adds email codes: the code goes to the masked address, then the method is active; primary choice is stored', async function () {
    const customer: Customer = { ...server.mfaAccounts.carol, totpSecret: server.totpSecrets.carol };
    const browser = new Browser();
    const overview = await signInConsole(server, browser, customer, clock);
    // carol signs in with her password alone: adding a method asks for the password and her app code first
    const { page: start, reauthenticated } = await submitWithReauth(browser, overview, '/account/methods/email_code/add', customer, clock);
    expect(reauthenticated).to.equal(true);
    expect(start.html).to.match(/c[^<@ ]*@example\.com/);
    const sent = await browser.submit(findForm(start, '/account/methods/email_code/add'));
    expect(sent.status).to.equal(200);
    expect(sent.html).to.match(/id="sent-to">c[^<]*@example\.com</);
    expect(sent.html).to.not.include('carol@example.com"');
    const again = await browser.submit(findForm(sent, 'renew-form'));
    expect(again.status).to.equal(429);
    expect(again.html).to.include('Wait');
    const done = await browser.submit(findForm(sent, 'confirm-form'), { code: lastCodeMailedTo(server, customer.email) });
    expect(done.status).to.equal(200);
    expect(done.url).to.equal(`${server.issuer}/account?done=factor_added`);
    expect(done.html).to.include('data-method="email_code" data-enrolled="true"');

    // two methods: the primary choice appears; choosing email stores the preference used by the challenge
    const saved = await browser.submit(findForm(done, 'primary-form'), { factor: 'email_code' });
    expect(saved.url).to.equal(`${server.issuer}/account?done=primary_changed`);
    const choice = createMethodChoice({ conn: server.conn, registry: server.factors });
    expect((await choice.primaryFactor(customer.id, LEVEL.mfa))?.id).to.equal('email_code');
    expect((await listEvents(server.conn, customer.id)).map((event) => event.event)).to.include('primary_factor_changed');

    // a shop's next step-up challenge opens on the chosen method …
    const shop = await Shop.discover(server.issuer, server.clients.firstParty);
    const stepUp = await shop.startLogin({ acr_values: ACR.mfa });
    const shopBrowser = new Browser([server.clients.firstParty.redirectUri]);
    const login = await shopBrowser.go(stepUp.url.href);
    const challenge = await shopBrowser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
    expect(challenge.html).to.include('name="method" value="email_code"');
    // … while the console's own re-authentication asks for the strongest method, the app
    clock.tick(6 * 60_000);
    const reauth = await browser.submit(findForm(saved, 'sign-in-mfa-form'));
    const consoleChallenge = await browser.submit(findForm(reauth, '/login'), { email: customer.email, password: customer.password });
    expect(consoleChallenge.html).to.include('name="method" value="totp"');
    expect(consoleChallenge.html).to.not.include('value="email_code"');
  });

  it('removes a method after "Are you sure?": the mail and the audit record say so', async function () {
    const customer: Customer = { ...server.mfaAccounts.ivan, totpSecret: server.totpSecrets.ivan };
    const browser = new Browser();
    await signInConsole(server, browser, customer, clock);
    const confirm = await browser.go(`${server.issuer}/account/methods/totp/remove`);
    expect(confirm.status).to.equal(200);
    expect(confirm.html).to.include('Are you sure?');
    expect(confirm.html).to.include('id="invoice-warning"');
    const { page: again, reauthenticated } = await submitWithReauth(browser, confirm, 'remove-form', customer, clock);
    expect(reauthenticated).to.equal(true);
    expect(again.html).to.include('data-pending="true"');
    expect(await server.factors.hasPrimaryFactor(customer.id), 'nothing removed before the confirmation').to.equal(true);
    const done = await browser.submit(findForm(again, 'remove-form'));
    expect(done.url).to.equal(`${server.issuer}/account?done=factor_removed_invoice`);
    expect(done.html).to.include('Paying by invoice will ask you to set up two-factor authentication again');
    expect(done.html).to.include('data-method="totp" data-enrolled="false"');
    expect(await server.factors.hasPrimaryFactor(customer.id)).to.equal(false);
    expect((await server.factors.usableFactors(customer.id, LEVEL.mfa)).length).to.equal(0);
    expect(mailsTo(server, customer.email).some((mail) => /removed/i.test(mail.subject))).to.equal(true);
    const removed = (await listEvents(server.conn, customer.id)).find((event) => event.event === 'factor_removed');
    expect(removed?.details?.factorId).to.equal('totp');
  });

  it('new recovery codes invalidate the old ones', async function () {
    const customer = await newCustomer(server, 'rita');
    const browser = new Browser();
    const overview = await signInConsole(server, browser, customer, clock);
    // opening the console is not a re-authentication: adding the first method asks for the password again
    const { page: start, reauthenticated: asked } = await submitWithReauth(browser, overview, '/account/methods/totp/add', customer, clock);
    expect(asked).to.equal(true);
    const page = await browser.submit(findForm(start, '/account/methods/totp/add'));
    customer.totpSecret = manualKeyOf(page);
    const first = recoveryCodesOn(await browser.submit(findForm(page, 'confirm-form'), { code: await nextCode(clock, customer.totpSecret) }));
    expect(first).to.have.length(10);

    clock.tick(6 * 60_000);
    const confirm = await browser.go(`${server.issuer}/account/recovery-codes`);
    expect(confirm.html).to.include('You have 10 unused recovery codes');
    const { page: back, reauthenticated } = await submitWithReauth(browser, confirm, 'regenerate-form', customer, clock);
    expect(reauthenticated).to.equal(true);
    const codesPage = await browser.submit(findForm(back, 'regenerate-form'));
    const second = recoveryCodesOn(codesPage);
    expect(second).to.have.length(10);
    expect(second).to.not.include(first[0]);
    const recovery = server.factors.all.find((factor) => factor.role === 'backup');
    expect((await recovery?.verify(customer.id, first[0]))?.ok).to.equal(false);
    expect((await recovery?.verify(customer.id, second[0]))?.ok).to.equal(true);
    expect(mailsTo(server, customer.email).some((mail) => /recovery/i.test(mail.subject))).to.equal(true);
  });

  it('turns "ask for a code at every sign-in" off and on again (re-authentication first)', async function () {
    const customer = await newCustomer(server, 'otto');
    customer.totpSecret = await enrolTotp(server.factors.get('totp') as TotpFactor, customer);
    const browser = new Browser();
    let page = await signInConsole(server, browser, customer, clock);
    expect(page.html).to.include('data-state="off"');
    clock.tick(6 * 60_000);
    const { page: back } = await submitWithReauth(browser, page, 'sign-in-mfa-form', customer, clock);
    expect(back.html).to.include('data-pending="true"');
    page = await browser.submit(findForm(back, 'sign-in-mfa-form'));
    expect(page.url).to.equal(`${server.issuer}/account?done=sign_in_mfa_enabled`);
    expect(await signInMfaEnabled(server.conn, customer.id)).to.equal(true);
    page = await browser.submit(findForm(page, 'sign-in-mfa-form'));
    expect(page.url).to.equal(`${server.issuer}/account?done=sign_in_mfa_disabled`);
    expect(await signInMfaEnabled(server.conn, customer.id)).to.equal(false);
    const events = (await listEvents(server.conn, customer.id)).map((event) => event.event);
    expect(events).to.include.members(['sign_in_mfa_enabled', 'sign_in_mfa_disabled']);
  });

  it('signs out through the provider\'s end-session endpoint', async function () {
    const browser = new Browser();
    const page = await signInConsole(server, browser, { ...server.accounts.bob }, clock);
    const out = await browser.request(findForm(page, 'logout-form').action, {
      method: 'POST',
      body: new URLSearchParams(findForm(page, 'logout-form').fields),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(out.status).to.equal(303);
    const end = new URL(out.headers.get('location') ?? '', server.issuer);
    expect(end.pathname).to.equal('/session/end');
    expect(end.searchParams.get('post_logout_redirect_uri')).to.equal(`${server.issuer}/account`);
    // the console session is gone: /account starts a new sign-in
    const again = await browser.request(`${server.issuer}/account`);
    expect(again.status).to.equal(303);
    expect(again.headers.get('location')).to.match(/^\/auth\?/);
  });
});
