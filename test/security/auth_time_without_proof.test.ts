/**
 * Threat: `auth_time` moved forward without anything being proven. A step-up page that turns out unnecessary (another
 * tab finished the same step-up meanwhile) finished the login anyway, stamping "now" as the authentication time: a
 * shop checking `auth_time` (RFC 9470 `max_age`) would then trust an authentication that is older than it says.
 * Rule: finishing a login never moves `auth_time` unless something was proven in that interaction.
 */
import { expect } from 'chai';
import { appCode } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, signIn, useShop } from '../helpers/shop.ts';
import { isChallenge } from '../helpers/step_up.ts';

describe('auth_time never moves without a proof', function () {
  const server = useTestServer('auth_time_without_proof');
  const shop = useShop(server);
  const clock = useFrozenClock();

  it('a step-up page left open while another tab did the step-up finishes with the earlier auth_time, not the time of the reload', async function () {
    const { ivan } = server.mfaAccounts;
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    await signIn(shop, browser, ivan);

    const first = await shop.startLogin({ scope: 'openid invoice' });
    const leftOpen = await browser.go(first.url.href);
    expect(isChallenge(leftOpen)).to.equal(true);

    clock.tick(60_000);
    const second = await shop.startLogin({ scope: 'openid invoice' });
    const other = await browser.go(second.url.href);
    const done = await browser.submit(findForm(other, '/mfa'), { code: await appCode(server.totpSecrets.ivan) });
    expect(done.status).to.equal(0);
    const provenAt = (await shop.finishLogin(second, done.url)).claims()?.auth_time as number;
    expect(provenAt).to.be.closeTo(Math.floor(Date.now() / 1000), 1);

    clock.tick(10 * 60_000);
    const reloaded = await browser.go(leftOpen.url.replace(/\/login$/, ''));
    expect(reloaded.status, reloaded.html.slice(0, 300)).to.equal(0);
    const claims = (await shop.finishLogin(first, reloaded.url)).claims();
    expect(claims?.auth_time, 'auth_time moved without a proof').to.equal(provenAt);
  });
});
