import { expect } from 'chai';
import { ACR } from '../../src/policy/acr.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, useShop } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';

/** A step-up works on the session it was asked for: never another account, never a longer-lived session. */
const SHOP = 'http://localhost:7777/';

describe('step-up keeps the session it steps up', function () {
  const server = useTestServer('mfa_step_up_session');
  const shop = useShop(server);
  const clock = useFrozenClock();

  async function signInCarol(browser: Browser, remember: boolean): Promise<void> {
    const pending = await shop.startLogin();
    const loginPage = await browser.go(pending.url.href);
    const page = await browser.submit(findForm(loginPage, '/login'), {
      email: server.mfaAccounts.carol.email, password: server.mfaAccounts.carol.password, remember: remember ? 'yes' : undefined,
    });
    expect(page.status).to.equal(0);
    await shop.finishLogin(pending, page.url);
  }

  async function sessionCookie(browser: Browser) {
    const cookies = await browser.jar.getCookies(server.issuer);
    const cookie = cookies.find((c) => c.key === '_session');
    expect(cookie, 'the _session cookie').to.not.equal(undefined);
    return cookie as NonNullable<typeof cookie>;
  }

  it('a step-up never switches account: another customer\'s password is refused on the step-up interaction', async function () {
    const browser = new Browser([SHOP]);
    await signInCarol(browser, true);
    const pending = await shop.startLogin({ acr_values: ACR.mfa });
    const challenge = await browser.go(pending.url.href);
    expect(isChallenge(challenge)).to.equal(true);
    const uid = /\/interaction\/([^/"]+)\/mfa"/.exec(challenge.html)?.[1] as string;
    const csrf = findForm(challenge, '/mfa').fields.csrf as string;

    const hijack = await browser.submit(
      { id: undefined, action: `${server.issuer}/interaction/${uid}/login`, method: 'post', fields: { csrf } },
      { email: server.mfaAccounts.ivan.email, password: server.mfaAccounts.ivan.password },
    );
    expect(isChallenge(hijack)).to.equal(true);
    expect(hijack.html).to.not.include('type="password"');

    const done = await submitCode(browser, hijack, await nextCode(clock, server.totpSecrets.carol));
    const claims = (await shop.finishLogin(pending, done.url)).claims();
    expect(claims?.sub).to.equal(server.mfaAccounts.carol.id);
    expect(claims?.acr).to.equal(ACR.mfa);
  });

  it('another account\'s valid code does not complete the step-up', async function () {
    const browser = new Browser([SHOP]);
    await signInCarol(browser, true);
    const pending = await shop.startLogin({ acr_values: ACR.mfa });
    const challenge = await browser.go(pending.url.href);
    const refused = await submitCode(browser, challenge, await nextCode(clock, server.totpSecrets.ivan));
    expect(refused.status).to.equal(400);
    expect(refused.html).to.include('Invalid authentication code');
  });

  it('a step-up never makes a "don\'t remember me" session persistent', async function () {
    const browser = new Browser([SHOP]);
    await signInCarol(browser, false);
    expect((await sessionCookie(browser)).expires).to.equal('Infinity');

    const pending = await shop.startLogin({ acr_values: ACR.mfa });
    const challenge = await browser.go(pending.url.href);
    const done = await submitCode(browser, challenge, await nextCode(clock, server.totpSecrets.carol));
    expect(done.status).to.equal(0);
    expect((await shop.finishLogin(pending, done.url)).claims()?.acr).to.equal(ACR.mfa);
    expect((await sessionCookie(browser)).expires).to.equal('Infinity');
  });

  it('a remembered session stays remembered after a step-up', async function () {
    const browser = new Browser([SHOP]);
    await signInCarol(browser, true);
    expect((await sessionCookie(browser)).expires).to.be.instanceOf(Date);
    const pending = await shop.startLogin({ acr_values: ACR.mfa });
    const challenge = await browser.go(pending.url.href);
    const done = await submitCode(browser, challenge, await nextCode(clock, server.totpSecrets.carol));
    await shop.finishLogin(pending, done.url);
    expect((await sessionCookie(browser)).expires).to.be.instanceOf(Date);
  });
});
