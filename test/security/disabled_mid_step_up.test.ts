/**
 * Threat: an account disabled (by support, or because it was taken over) while its owner — or whoever holds its
 * password — is in the middle of a step-up. The step must not crash into a 500, must not finish the sign-in, and
 * must not half-write anything (no proof, no code used up).
 * Rule: every step loads the account through the authentication state; an account that is gone or disabled, or whose
 * proofs ended, gets the sign-in page's clear message and nothing else.
 */
import { expect } from 'chai';
import { setAccountStatus } from '../../src/accounts/accounts.ts';
import { ACR } from '../../src/policy/acr.ts';
import { appCode } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, useShop } from '../helpers/shop.ts';
import { isChallenge } from '../helpers/step_up.ts';
import { isLoginForm } from '../console/support.ts';

describe('an account disabled in the middle of a step-up', function () {
  const server = useTestServer('disabled_mid_step_up');
  const shop = useShop(server);
  const clock = useFrozenClock();

  it('gets the sign-in page with a clear message when the code is sent, never a 500, and no code is used up', async function () {
    const { carol } = server.mfaAccounts;
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    const pending = await shop.startLogin({ acr_values: ACR.mfa });
    const login = await browser.go(pending.url.href);
    const challenge = await browser.submit(findForm(login, '/login'), { email: carol.email, password: carol.password });
    expect(isChallenge(challenge)).to.equal(true);

    await setAccountStatus(server.conn, carol.id, 'disabled');
    clock.tick(30_000);
    const code = await appCode(server.totpSecrets.carol);
    const answer = await browser.submit(findForm(challenge, '/mfa'), { code });
    expect(answer.status, answer.html.slice(0, 300)).to.be.within(400, 499);
    expect(answer.html).to.include('Sign in again');
    expect(isLoginForm({ ...answer, status: 200 }), 'the sign-in page').to.equal(true);
    expect(answer.url.startsWith(server.clients.firstParty.redirectUri)).to.equal(false);

    // The page offers a plain sign-in: the disabled account gets the usual refusal there.
    const again = await browser.submit(findForm(answer, '/login'), { email: carol.email, password: carol.password });
    expect(again.status).to.equal(401);

    // Nothing was half-written: enabled again, the very same code still signs in (it was never used).
    await setAccountStatus(server.conn, carol.id, 'active');
    const retry = await shop.startLogin({ acr_values: ACR.mfa });
    const fresh = new Browser([server.clients.firstParty.redirectUri]);
    const form = await fresh.go(retry.url.href);
    const next = await fresh.submit(findForm(form, '/login'), { email: carol.email, password: carol.password });
    const done = await fresh.submit(findForm(next, '/mfa'), { code });
    expect(done.status, done.html.slice(0, 300)).to.equal(0);
  });

  it('a GET of the step after the disable shows the sign-in page too', async function () {
    const { fred } = server.mfaAccounts;
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    const pending = await shop.startLogin();
    const login = await browser.go(pending.url.href);
    const challenge = await browser.submit(findForm(login, '/login'), { email: fred.email, password: fred.password });
    expect(isChallenge(challenge)).to.equal(true);
    await setAccountStatus(server.conn, fred.id, 'disabled');
    const reload = await browser.go(challenge.url.replace(/\/login$/, ''));
    expect(reload.status).to.be.within(400, 499);
    expect(reload.html).to.include('Sign in again');
    await setAccountStatus(server.conn, fred.id, 'active');
  });
});
