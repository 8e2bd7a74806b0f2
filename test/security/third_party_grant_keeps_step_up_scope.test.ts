/**
 * Threat: a third-party shop's stored grant keeps the `invoice` scope the customer once consented to, and hands it out
 * again on a later request — after the invoice privilege was withdrawn, without a fresh second factor, silently
 * (`prompt=none`): the consent prompt sees the scope as granted, and the step-up decision skips a step-up scope whose
 * privilege the account no longer holds.
 * Rule: a grant consented to earlier never hands out a step-up scope the policy does not allow for this request: it is
 * rejected on the grant (not in the tokens); when the policy allows it again, the earlier consent counts again.
 */
import { expect } from 'chai';
import { createAccount, setPrivilege } from '../../src/accounts/accounts.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, useShop } from '../helpers/shop.ts';
import { nextCode, submitCode } from '../helpers/step_up.ts';

describe('a third-party grant never keeps a step-up scope the policy no longer allows', function () {
  const server = useTestServer('third_party_grant_keeps_step_up_scope');
  const clock = useFrozenClock();
  const partner = useShop(server, 'thirdParty');

  const scopesOf = (tokens: { scope?: string }): string[] => (tokens.scope ?? '').split(' ').filter(Boolean);

  /** Rita consents to "pay by invoice" at the partner shop after her password and app code. */
  async function consentedInvoice(email: string) {
    const password = `${email}-password-9`;
    const created = await createAccount(server.conn, { email, password, name: 'Rita', privileges: ['invoice'] });
    const totp = server.factors.all.find((factor) => factor.role === 'primary' && !factor.challenge) as TotpFactor;
    const secret = await enrolTotp(totp, { id: created.id, email });
    const browser = new Browser([server.clients.thirdParty.redirectUri]);
    const first = await partner.startLogin({ scope: 'openid invoice' });
    const loginPage = await browser.go(first.url.href);
    const challenge = await browser.submit(findForm(loginPage, '/login'), { email, password, remember: 'yes' });
    const consent = await submitCode(browser, challenge, await nextCode(clock, secret));
    expect(consent.html).to.include('pay by invoice');
    const done = await browser.submit(findForm(consent, '/confirm'));
    expect(scopesOf(await partner.finishLogin(first, done.url))).to.include('invoice');
    return { id: created.id, browser, secret };
  }

  it('after the invoice privilege is withdrawn, a silent request 40 minutes later gets no invoice scope', async function () {
    const rita = await consentedInvoice('rita@example.com');
    await setPrivilege(server.conn, rita.id, 'invoice', false);
    clock.tick(40 * 60_000);
    const silent = await partner.startLogin({ scope: 'openid invoice', prompt: 'none' });
    const answer = await rita.browser.go(silent.url.href);
    expect(new URL(answer.url).searchParams.get('error'), answer.url).to.equal(null);
    const tokens = await partner.finishLogin(silent, answer.url);
    expect(scopesOf(tokens), 'invoice handed out without the privilege').to.not.include('invoice');
  });

  it('with the privilege back and a fresh second factor, the earlier consent counts again: invoice without a consent page', async function () {
    const rita = await consentedInvoice('rita.again@example.com');
    await setPrivilege(server.conn, rita.id, 'invoice', false);
    clock.tick(40 * 60_000);
    const withdrawn = await partner.startLogin({ scope: 'openid invoice', prompt: 'none' });
    expect(scopesOf(await partner.finishLogin(withdrawn, (await rita.browser.go(withdrawn.url.href)).url))).to.not.include('invoice');

    await setPrivilege(server.conn, rita.id, 'invoice', true);
    const again = await partner.startLogin({ scope: 'openid invoice' });
    const challenge = await rita.browser.go(again.url.href);
    const back = await submitCode(rita.browser, challenge, await nextCode(clock, rita.secret));
    expect(back.status, back.html.slice(0, 300)).to.equal(0);
    expect(scopesOf(await partner.finishLogin(again, back.url))).to.include('invoice');
  });
});
