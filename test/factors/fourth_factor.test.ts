import { expect } from 'chai';
import { createAccount } from '../../src/accounts/accounts.ts';
import { listEvents } from '../../src/audit/audit_log.ts';
import { ACR } from '../../src/policy/acr.ts';
import { authenticate, isLoginForm, recoveryCodesOn, submitWithReauth, type Customer } from '../console/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, parseForms, useShop, type Page } from '../helpers/shop.ts';
import { isChallenge } from '../helpers/step_up.ts';
import { CODE_CARD_ID, createCodeCardFactor } from './code_card/factor.ts';

/**
 * A fourth second factor, registered only here (a printed code card: `code_card/`), goes through every page the
 * built-in ones use — the method choice, the enrolment inside the sign-in, the challenge, the console's add and
 * remove — rendered by its own templates, with no page knowing it (docs/ARCHITECTURE.md "The factor contract").
 */
const SHOP = 'http://localhost:7777/';
const INVOICE = { scope: 'openid invoice', acr_values: ACR.mfa };

describe('a fourth factor is one folder and one line in the registry', function () {
  const card = createCodeCardFactor();
  const server = useTestServer('fourth_factor', { extraFactors: [card], mailer: 'config' });
  const shop = useShop(server);
  const clock = useFrozenClock();
  let customer: Customer;

  before(async function () {
    const created = await createAccount(server.conn, { email: 'cora@example.com', password: 'cora-password-7', name: 'Cora Card', privileges: ['invoice'] });
    customer = { id: created.id, email: 'cora@example.com', password: 'cora-password-7' };
  });

  function codeOnCard(page: Page): string {
    const serial = /data-serial="([0-9A-F]+)"/.exec(page.html)?.[1];
    if (!serial) throw new Error(`no card on the page:\n${page.html.slice(0, 1200)}`);
    return card.codeOf(customer.id, serial);
  }

  it('is offered in the sign-in, set up with its own page, and answers the invoice step-up with its amr', async function () {
    const browser = new Browser([SHOP]);
    const pending = await shop.startLogin(INVOICE);
    const login = await browser.go(pending.url.href);
    const choice = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
    expect(parseForms(choice).some((form) => form.action.endsWith('/enrol/method')), choice.html.slice(0, 800)).to.equal(true);
    expect(choice.html).to.include('Code card');

    const enrol = await browser.submit(findForm(choice, '/enrol/method'), { method: CODE_CARD_ID });
    expect(enrol.status).to.equal(200);
    expect(enrol.html, 'the frame of the sign-in page').to.include('Set up two-factor authentication').and.include('Choose another method');
    expect(enrol.html, 'the factor\'s own part').to.include('id="code-card-pending"');

    const wrong = await browser.submit(findForm(enrol, 'confirm-form'), { code: 'nope' });
    expect(wrong.status).to.equal(400);
    expect(wrong.html, 'a factor without its own words gets the generic ones').to.include('This code is not correct. Check it and try again.');
    expect(await card.isEnrolled(customer.id)).to.equal(false);

    const codes = await browser.submit(findForm(wrong, 'confirm-form'), { code: codeOnCard(wrong) });
    expect(codes.status).to.equal(200);
    expect(recoveryCodesOn(codes), 'the recovery codes follow the first factor').to.have.length(10);
    expect(await card.isEnrolled(customer.id)).to.equal(true);
    expect((await listEvents(server.conn, customer.id)).some((event) => event.event === 'factor_added')).to.equal(true);

    const done = await browser.submit(findForm(codes, '/mfa/continue'));
    const tokens = await shop.finishLogin(pending, done.url);
    expect(tokens.claims()).to.include({ acr: ACR.mfa, sub: customer.id });
    expect(tokens.claims()?.amr).to.include.members(['pwd', 'hwk', 'mfa']);
  });

  it('is asked for by the challenge with its own template at the next invoice step-up', async function () {
    const browser = new Browser([SHOP]);
    const pending = await shop.startLogin(INVOICE);
    const login = await browser.go(pending.url.href);
    const challenge = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
    expect(isChallenge(challenge), challenge.html.slice(0, 800)).to.equal(true);
    expect(challenge.html).to.include('id="code-card-challenge"').and.include('Use a recovery code');
    const serial = card.serialOf(customer.id) as string;
    const done = await browser.submit(findForm(challenge, '/mfa'), { code: card.codeOf(customer.id, serial) });
    const tokens = await shop.finishLogin(pending, done.url);
    expect(tokens.claims()?.amr).to.include.members(['pwd', 'hwk', 'mfa']);
  });

  it('is removed and added again in the console, after re-authentication with it', async function () {
    const browser = new Browser();
    const code = (): string => card.codeOf(customer.id, card.serialOf(customer.id) as string);
    const overview = await authenticate(browser, await browser.go(`${server.issuer}/account`), customer, clock, { code: code() });
    expect(overview.html).to.include(`data-method="${CODE_CARD_ID}" data-enrolled="true"`);

    clock.tick(6 * 60_000); // the sign-in is no longer recent
    const confirm = await browser.go(`${server.issuer}/account/methods/${CODE_CARD_ID}/remove`);
    const first = await browser.submit(findForm(confirm, 'remove-form'));
    expect(isLoginForm(first)).to.equal(true);
    const again = await authenticate(browser, first, customer, clock, { code: code() });
    const removed = await browser.submit(findForm(again, 'remove-form'));
    expect(new URL(removed.url).pathname).to.equal('/account');
    expect(await card.isEnrolled(customer.id)).to.equal(false);

    const start = await browser.go(`${server.issuer}/account/methods/${CODE_CARD_ID}/add`);
    expect(start.html, 'the factor says what will happen').to.include('id="code-card-before"');
    const { page: enrol } = await submitWithReauth(browser, start, `/account/methods/${CODE_CARD_ID}/add`, customer, clock);
    const cardPage = enrol.html.includes('id="code-card-pending"') ? enrol : await browser.submit(findForm(enrol, `/account/methods/${CODE_CARD_ID}/add`));
    expect(cardPage.html).to.include('id="code-card-pending"');
    const added = await browser.submit(findForm(cardPage, 'confirm-form'), { code: codeOnCard(cardPage) });
    expect(added.status).to.equal(200);
    expect(recoveryCodesOn(added)).to.have.length(10);
    expect(await card.isEnrolled(customer.id)).to.equal(true);
  });
});
