import { expect } from 'chai';
import { createAccount } from '../../src/accounts/accounts.ts';
import type { Factor } from '../../src/factors/contract.ts';
import { createMethodChoice, type MethodChoice } from '../../src/factors/method_choice.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { ACR } from '../../src/policy/acr.ts';
import { enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, useShop, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { isChallenge, nextCode, submitCode } from '../helpers/step_up.ts';
import { lastCodeMailedTo } from '../helpers/mail.ts';

/**
 * Method choice: with an authenticator app and email codes both active, the challenge opens on the
 * customer's primary method; "use another method" lists only the other methods that meet the requested level.
 */
const SHOP = 'http://localhost:7777/';

describe('the challenge opens on the customer\'s primary method', function () {
  const server = useTestServer('primary_method', { mailer: 'config' });
  const shop = useShop(server);
  const clock = useFrozenClock();
  let choice: MethodChoice;
  let app: Factor;
  let email: Factor;
  let recovery: Factor;

  before(async function () {
    choice = createMethodChoice({ conn: server.conn, registry: server.factors });
    app = server.factors.all.find((factor) => factor.role === 'primary' && factor.enrol && !factor.challenge) as Factor;
    email = server.factors.all.find((factor) => factor.role === 'primary' && factor.challenge) as Factor;
    recovery = server.factors.all.find((factor) => factor.role === 'backup') as Factor;
    expect(email, 'the email factor is registered with a mailer').to.not.equal(undefined);
  });


  /** A customer with an app (enrolled first), then email codes, and recovery codes — all through the factor APIs. */
  async function customerWithAppAndEmail(name: string): Promise<{ id: string; email: string; password: string; secret: string }> {
    const address = `${name}@example.com`;
    const password = `${name}-password-5`;
    const created = await createAccount(server.conn, { email: address, password, name });
    const secret = await enrolTotp(app as unknown as TotpFactor, { id: created.id, email: address });
    clock.tick(60_000);
    const begun = await email.enrol?.begin({ id: created.id, email: address });
    expect(begun?.ok).to.equal(true);
    expect((await email.enrol?.confirm?.(created.id, lastCodeMailedTo(server, address)))?.ok).to.equal(true);
    await (recovery as unknown as { generate(id: string): Promise<string[]> }).generate(created.id);
    clock.tick(60_000);
    return { id: created.id, email: address, password, secret };
  }

  async function challengeFor(browser: Browser, account: { email: string; password: string }, acr: string) {
    const pending = await shop.startLogin({ acr_values: acr });
    const loginPage = await browser.go(pending.url.href);
    const page = await browser.submit(findForm(loginPage, '/login'), { email: account.email, password: account.password });
    expect(isChallenge(page), `expected the challenge, got ${page.status}:\n${page.html.slice(0, 600)}`).to.equal(true);
    return { pending, page };
  }

  function openMethod(page: Page): string | undefined {
    return findForm(page, '/mfa').fields.method;
  }

  function offeredMethods(page: Page): string[] {
    return [...page.html.matchAll(/\?method=([a-z_]+)"/g)].map((match) => match[1] as string);
  }

  it('without a stored choice the page opens on the first enrolled method (the app) and offers email and a recovery code', async function () {
    const customer = await customerWithAppAndEmail('paula');
    const { page } = await challengeFor(new Browser([SHOP]), customer, ACR.mfa);
    expect(openMethod(page)).to.equal(app.id);
    expect(page.html).to.include('Open your authenticator app');
    expect(offeredMethods(page)).to.have.members([email.id, recovery.id]);
  });

  it('a customer who chose email as primary lands on email; the app and a recovery code are the others; the mailed code signs in at level 2', async function () {
    const customer = await customerWithAppAndEmail('emil');
    expect(await choice.choosePrimary(customer.id, email.id)).to.deep.equal({ ok: true });
    const browser = new Browser([SHOP]);
    const { pending, page } = await challengeFor(browser, customer, ACR.mfa);
    expect(openMethod(page)).to.equal(email.id);
    expect(page.html).to.include('We send a 6-digit code to e•••@example.com');
    expect(offeredMethods(page)).to.have.members([app.id, recovery.id]);

    const sent = await browser.submit(findForm(page, '/mfa/send'));
    expect(sent.status).to.equal(200);
    const done = await submitCode(browser, sent, lastCodeMailedTo(server, customer.email));
    expect(done.status).to.equal(0);
    const claims = (await shop.finishLogin(pending, done.url)).claims();
    expect(claims?.acr).to.equal(ACR.mfa);
    expect(claims?.amr).to.include('mfa').and.include(email.amr[0]);
  });

  it('"use another method" still picks the app explicitly, and its code signs in', async function () {
    const customer = await customerWithAppAndEmail('erik');
    await choice.choosePrimary(customer.id, email.id);
    const browser = new Browser([SHOP]);
    const { pending, page } = await challengeFor(browser, customer, ACR.mfa);
    expect(openMethod(page)).to.equal(email.id);
    const other = await browser.go(new URL(`${new URL(findForm(page, '/mfa').action).pathname.replace(/\/mfa$/, '')}?method=${app.id}`, server.issuer).href);
    expect(openMethod(other)).to.equal(app.id);
    expect(offeredMethods(other)).to.have.members([email.id, recovery.id]);
    const done = await submitCode(browser, other, await nextCode(clock, customer.secret));
    expect(done.status).to.equal(0);
    expect((await shop.finishLogin(pending, done.url)).claims()?.acr).to.equal(ACR.mfa);
  });

  it('a level-3 request never offers email, even as the primary method: it opens on the app, a recovery code as backup', async function () {
    const customer = await customerWithAppAndEmail('lena');
    await choice.choosePrimary(customer.id, email.id);
    const browser = new Browser([SHOP]);
    const { page } = await challengeFor(browser, customer, ACR.mfaApp);
    expect(openMethod(page)).to.equal(app.id);
    expect(offeredMethods(page)).to.deep.equal([recovery.id]);
    expect(page.html).to.not.include('/mfa/send');

    // asking for email explicitly falls back to the app; posting an email code is refused
    const uidPath = new URL(findForm(page, '/mfa').action).pathname.replace(/\/mfa$/, '');
    const forced = await browser.go(new URL(`${uidPath}?method=${email.id}`, server.issuer).href);
    expect(openMethod(forced)).to.equal(app.id);
    const refused = await browser.submit(findForm(forced, '/mfa'), { method: email.id, code: '123456' });
    expect(refused.status).to.equal(400);
    expect(refused.html).to.include('not set up');
  });
});
