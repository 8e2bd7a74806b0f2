/**
 * Threat: a reset of the second factors (support, a company admin) of a taken-over account lands while the attacker's
 * own request is in flight in the security console — a password change (its password hash takes a while), or the
 * console's sign-in callback — and the request then stamps the attacker's console session with the newest credentials
 * epoch: the session outlives the reset, the account has no factor left, and the attacker binds their own
 * authenticator.
 * Rule: a change carries the epoch its own sign-in was proven under and only moves from it: a password change happens
 * only if no other change of credentials came in since (else it is refused and nothing is written); the console
 * session and the browser's proofs move to the new epoch only from the epoch they were proven under; the sign-in
 * callback takes the epoch of the browser's proofs checked against the account read after the token.
 */
import { AsyncResource } from 'node:async_hooks';
import { expect } from 'chai';
import { verifyLogin } from '../../src/accounts/accounts.ts';
import { resetFactors } from '../../src/security/support_actions.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm } from '../helpers/shop.ts';
import { authenticate, isLoginForm, newCustomer, signInConsole, submitWithReauth, type Customer } from '../console/support.ts';

describe('a console session does not outlive a reset that lands while its request is in flight', function () {
  const server = useTestServer('console_session_outlives_reset');
  const clock = useFrozenClock();
  let totp: TotpFactor;

  before(async function () {
    totp = server.factors.all.find((factor) => factor.role === 'primary' && !factor.challenge) as TotpFactor;
  });

  async function victimWithApp(name: string): Promise<Customer> {
    const victim = await newCustomer(server, name);
    victim.totpSecret = await enrolTotp(totp, victim);
    return victim;
  }

  async function reset(victim: Customer): Promise<void> {
    await resetFactors({ conn: server.conn, factors: server.factors, events: server.events }, victim, 'support', { actor: { type: 'support', id: 'agent' } });
  }

  it('a password change with a reset landing during its password hash is refused, changes nothing, and the console is signed out', async function () {
    const victim = await victimWithApp('victor');
    const attacker = new Browser();
    await signInConsole(server, attacker, victim, clock);
    const stale = await attacker.go(`${server.issuer}/account/password`);
    const { page: form } = await submitWithReauth(attacker, stale, 'password-form', victim, clock);

    // The reset runs when the change first reaches the accounts (right before the new password is hashed).
    const Account = server.conn.models.Account as unknown as { exists: (...args: unknown[]) => unknown };
    const exists = Account.exists;
    Account.exists = function (this: unknown, ...args: unknown[]) {
      Account.exists = exists;
      const query = exists.apply(this, args) as { exec(): Promise<unknown> };
      return { exec: async () => { await reset(victim); return query.exec(); } };
    };
    const chosen = 'attacker chosen passphrase 1';
    let answer;
    try {
      answer = await attacker.submit(findForm(form, 'password-form'), { password: chosen, confirm: chosen });
    } finally {
      Account.exists = exists;
    }
    expect(answer.status).to.equal(409);
    expect(await verifyLogin(server.conn, victim.email, chosen), 'the password was not changed').to.equal(null);

    const overview = await attacker.go(`${server.issuer}/account`);
    expect(isLoginForm(overview), 'the console asks to sign in again').to.equal(true);
    const add = await attacker.go(`${server.issuer}/account/methods/totp/add`);
    expect(add.html).to.not.include('data-key=');
    expect(await totp.isEnrolled(victim.id)).to.equal(false);
  });

  /**
   * Runs `steps` with the reset of `victim` landing between the console's code redemption (its request to the token
   * endpoint) and the rest of the callback; returns what `steps` returned.
   */
  async function withResetAfterRedemption<T>(victim: Customer, steps: () => Promise<T>): Promise<T> {
    const original = globalThis.fetch;
    // The reset is another request's work: it runs outside the callback's async context (what it read and forgets).
    const elsewhere = new AsyncResource('support_reset');
    let resetDone = false;
    globalThis.fetch = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
      const response = await original(input, init);
      if (!resetDone && String(input).endsWith('/token')) {
        resetDone = true;
        globalThis.fetch = original;
        await elsewhere.runInAsyncScope(() => reset(victim));
      }
      return response;
    };
    try {
      return await steps();
    } finally {
      globalThis.fetch = original;
      expect(resetDone, 'the reset landed').to.equal(true);
    }
  }

  it('a console sign-in whose code is redeemed just before a reset is refused at the callback and leaves nothing signed in', async function () {
    const victim = await victimWithApp('cally');
    const attacker = new Browser();
    const answer = await withResetAfterRedemption(victim, async () => {
      const login = await attacker.go(`${server.issuer}/account`);
      return attacker.submit(findForm(login, '/login'), { email: victim.email, password: victim.password });
    });
    expect(answer.status).to.equal(400);
    expect(answer.html).to.not.include('Security settings');
    const overview = await attacker.go(`${server.issuer}/account`);
    expect(isLoginForm(overview), 'the console asks to sign in again').to.equal(true);
  });

  it('a re-authentication whose code is redeemed just before a reset is refused at the callback too (the account is read after the token)', async function () {
    const victim = await victimWithApp('rhea');
    const attacker = new Browser();
    await signInConsole(server, attacker, victim, clock);
    const settings = await attacker.go(`${server.issuer}/account/password`);
    const reauth = await attacker.submit(findForm(settings, 'password-form'));
    expect(isLoginForm(reauth), 'a change asks to sign in again first').to.equal(true);
    const answer = await withResetAfterRedemption(victim, () => authenticate(attacker, reauth, victim, clock));
    expect(answer.status, answer.html.slice(0, 600)).to.equal(400);
    expect(answer.html).to.not.include('Security settings');
    const overview = await attacker.go(`${server.issuer}/account`);
    expect(isLoginForm(overview), 'the console asks to sign in again').to.equal(true);
  });
});
