/**
 * After setting up the first method inside a shop's sign-in the customer chooses whether every sign-in asks for a
 * code (the security settings turn it on with the first method; the sign-in asks instead of silently leaving it off).
 */
import { expect } from 'chai';
import { signInMfaEnabled } from '../../src/accounts/accounts.ts';
import { listEvents } from '../../src/audit/audit_log.ts';
import { newCustomer } from '../console/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, useShop } from '../helpers/shop.ts';
import { manualKeyOf, nextCode } from '../helpers/step_up.ts';

describe('enrolment in a shop sign-in asks "also ask for a code at every sign-in?"', function () {
  const server = useTestServer('enrolment_asks_every_sign_in');
  const shop = useShop(server);
  const clock = useFrozenClock();

  /** An invoice customer without a factor sets up the app in the shop's invoice sign-in: the recovery codes page. */
  async function enrolInSignIn(name: string) {
    const customer = await newCustomer(server, name, { privileges: ['invoice'] });
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    const pending = await shop.startLogin({ scope: 'openid invoice' });
    const qr = await browser.submit(findForm(await browser.go(pending.url.href), '/login'), { email: customer.email, password: customer.password });
    expect(qr.html).to.include('Paying by invoice needs two-factor authentication (2FA)');
    const codes = await browser.submit(findForm(qr, '/enrol'), { code: await nextCode(clock, manualKeyOf(qr)) });
    expect(codes.html).to.include('when a shop needs it, for example to pay by invoice');
    expect(codes.html).to.match(/<input id="every-sign-in" type="checkbox" name="every_sign_in" value="on" checked>/);
    return { customer, browser, codes };
  }

  it('left checked, every sign-in asks for a code from now on, audited', async function () {
    const { customer, browser, codes } = await enrolInSignIn('chooses-yes');
    expect((await browser.submit(findForm(codes, '/mfa/continue'))).status).to.equal(0);
    expect(await signInMfaEnabled(server.conn, customer.id)).to.equal(true);
    const enabled = (await listEvents(server.conn, customer.id)).find((event) => event.event === 'sign_in_mfa_enabled');
    expect(enabled?.details).to.include({ reason: 'enrolment' });
  });

  it('unchecked, sign-in asks only when a shop needs it', async function () {
    const { customer, browser, codes } = await enrolInSignIn('chooses-no');
    expect((await browser.submit(findForm(codes, '/mfa/continue'), { every_sign_in: undefined })).status).to.equal(0);
    expect(await signInMfaEnabled(server.conn, customer.id)).to.equal(false);
  });
});
