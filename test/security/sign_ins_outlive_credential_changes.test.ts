/**
 * Threat: a sign-in made with the old credentials outlives a password change, a reset of the second factors or a
 * disable — a provider session re-saved by a request that was in flight during the change, an authorization code
 * issued in flight, or a refresh token and its access tokens issued before.
 * Rule: every account has a credentials epoch, raised by each of those changes; every session's authentication state
 * carries the epoch it was proven under and is checked whenever the session or a token derived from it is used; the
 * change also revokes every grant of the account (and so its refresh and access tokens).
 */
import { expect } from 'chai';
import * as oidc from 'openid-client';
import { changeAccountStatus, resetFactors } from '../../src/security/support_actions.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, signIn, useShop } from '../helpers/shop.ts';
import { isLoginForm, newCustomer, signInConsole, submitWithReauth, type Customer } from '../console/support.ts';

describe('sign-ins do not outlive a change of credentials', function () {
  const server = useTestServer('sign_ins_outlive_credential_changes');
  const shop = useShop(server);
  const clock = useFrozenClock();

  const stopAtShop = (): Browser => new Browser([server.clients.firstParty.redirectUri]);

  /** Changes the password in the security console of a fresh browser (a recent sign-in: no re-authentication). */
  async function changePassword(customer: Customer): Promise<void> {
    const browser = new Browser();
    await signInConsole(server, browser, customer, clock);
    const stale = await browser.go(`${server.issuer}/account/password`);
    const { page: form } = await submitWithReauth(browser, stale, 'password-form', customer, clock);
    const next = `${customer.password}-changed`;
    const done = await browser.submit(findForm(form, 'password-form'), { password: next, confirm: next });
    expect(done.url).to.equal(`${server.issuer}/account?done=password_changed`);
    customer.password = next;
  }

  async function offlineTokens(customer: Customer) {
    const { pending, callbackUrl } = await signIn(shop, stopAtShop(), customer, { params: { scope: 'openid email offline_access', prompt: 'consent' } });
    const tokens = await shop.finishLogin(pending, callbackUrl);
    expect(tokens.refresh_token).to.be.a('string');
    return tokens;
  }

  async function expectRefreshRefused(refreshToken: string): Promise<void> {
    try {
      await oidc.refreshTokenGrant(shop.config, refreshToken);
      expect.fail('the refresh token still works');
    } catch (err) {
      expect((err as { error?: string }).error).to.equal('invalid_grant');
    }
  }

  it('a provider session re-saved by a request in flight during a password change is dead: prompt=none answers login_required', async function () {
    const customer = await newCustomer(server, 'revived');
    const other = stopAtShop();
    await signIn(shop, other, customer);
    const sessions = server.conn.db!.collection('oidc_sessions');
    const before = await sessions.find({ 'payload.accountId': customer.id }).toArray();
    expect(before).to.have.length.greaterThan(0);

    await changePassword(customer);
    // What a request in flight does when it finishes after the change: the adapter upserts the session it loaded.
    for (const doc of before) await sessions.replaceOne({ _id: doc._id }, doc, { upsert: true });

    const silent = await shop.startLogin({ prompt: 'none' });
    const answer = await other.go(silent.url.href);
    const callback = new URL(answer.url);
    expect(callback.searchParams.get('code'), 'the revived session got a code').to.equal(null);
    expect(callback.searchParams.get('error')).to.equal('login_required');
  });

  it("a fresh browser's sign-in proven before a password change and resumed after it gets no code: the password form again", async function () {
    const customer = await newCustomer(server, 'half-done');
    // Stops where the login resumes (the interaction holds the password proof, the browser has no session yet) and
    // where it would leave for the shop.
    const browser = new Browser([`${server.issuer}/auth/`, server.clients.firstParty.redirectUri]);
    const pending = await shop.startLogin();
    const login = await browser.go(pending.url.href);
    const resume = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
    expect(resume.status, 'stopped at the resume').to.equal(0);

    await changePassword(customer);
    const after = await browser.go(resume.url);
    expect(after.url.startsWith(server.clients.firstParty.redirectUri), `the shop got an answer: ${after.url}`).to.equal(false);
    expect(isLoginForm(after), `expected the password form, got ${after.status}:\n${after.html.slice(0, 400)}`).to.equal(true);
  });

  it('an authorization code issued before a password change cannot be redeemed after it', async function () {
    const customer = await newCustomer(server, 'inflight');
    const other = stopAtShop();
    await signIn(shop, other, customer);
    const silent = await shop.startLogin({ prompt: 'none' });
    const issued = await other.go(silent.url.href);
    expect(new URL(issued.url).searchParams.get('code')).to.be.a('string');

    await changePassword(customer);
    try {
      await shop.finishLogin(silent, issued.url);
      expect.fail('a code issued before the change was redeemed');
    } catch (err) {
      expect((err as { error?: string }).error).to.equal('invalid_grant');
    }
  });

  it('a password change revokes the refresh and access tokens issued before it', async function () {
    const customer = await newCustomer(server, 'refresher');
    const tokens = await offlineTokens(customer);
    await changePassword(customer);
    await expectRefreshRefused(tokens.refresh_token as string);
    expect((await oidc.tokenIntrospection(shop.config, tokens.access_token)).active).to.equal(false);
  });

  it("support's reset of the second factors revokes the tokens issued before it", async function () {
    const customer = await newCustomer(server, 'resetme');
    const totp = server.factors.all.find((factor) => factor.role === 'primary' && !factor.challenge) as TotpFactor;
    await enrolTotp(totp, customer);
    const tokens = await offlineTokens(customer);
    await resetFactors({ conn: server.conn, factors: server.factors, events: server.events }, customer, 'support', { actor: { type: 'support', id: 'cli' } });
    await expectRefreshRefused(tokens.refresh_token as string);
    expect((await oidc.tokenIntrospection(shop.config, tokens.access_token)).active).to.equal(false);
  });

  it('disabling an account revokes its tokens, and enabling it again does not bring them back', async function () {
    const customer = await newCustomer(server, 'disabled');
    const tokens = await offlineTokens(customer);
    await changeAccountStatus({ conn: server.conn, events: server.events }, customer, 'disabled', { actor: { type: 'support', id: 'cli' } });
    await changeAccountStatus({ conn: server.conn, events: server.events }, customer, 'active', { actor: { type: 'support', id: 'cli' } });
    await expectRefreshRefused(tokens.refresh_token as string);
  });
});
