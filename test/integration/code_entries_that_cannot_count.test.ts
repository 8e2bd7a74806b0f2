import { expect } from 'chai';
import { createAccount } from '../../src/accounts/accounts.ts';
import type { Factor } from '../../src/factors/contract.ts';
import { SECOND_FACTOR_BUCKET, createAttemptLimiter } from '../../src/factors/shared/attempts.ts';
import { createMethodChoice } from '../../src/factors/method_choice.ts';
import { ACR } from '../../src/policy/acr.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { lastCodeMailedTo } from '../helpers/mail.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, parseForms, useShop } from '../helpers/shop.ts';

/**
 * The code pages count only real attempts: an empty entry (Enter pressed before any code arrived) or one that cannot
 * be a code of the method is refused before it is checked, so it never brings the customer closer to a lockout.
 * The email-code page makes "Send code" the main action until a code went out.
 */
const SHOP = 'http://localhost:7777/';

describe('code entries that cannot be right never count as attempts', function () {
  const server = useTestServer('code_entries', { mailer: 'config' });
  const shop = useShop(server);
  const clock = useFrozenClock();
  let email: Factor;

  before(function () {
    email = server.factors.primary.find((factor) => factor.enrol?.delivers === true) as Factor;
    expect(email, 'the email factor is registered with a mailer').to.not.equal(undefined);
  });

  async function emailCustomer(name: string): Promise<{ id: string; email: string; password: string }> {
    const address = `${name}@example.com`;
    const password = `${name}-password-8`;
    const created = await createAccount(server.conn, { email: address, password, name, privileges: ['invoice'] });
    expect((await email.enrol?.begin({ id: created.id, email: address }))?.ok).to.equal(true);
    expect((await email.enrol?.confirm?.(created.id, lastCodeMailedTo(server, address)))?.ok).to.equal(true);
    await createMethodChoice({ conn: server.conn, registry: server.factors }).choosePrimary(created.id, email.id);
    clock.tick(60_000); // past the resend cooldown of the enrolment's code
    return { id: created.id, email: address, password };
  }

  async function failuresOf(accountId: string): Promise<number> {
    const status = await createAttemptLimiter(server.conn, { bucket: SECOND_FACTOR_BUCKET }).status(accountId);
    return status.failures;
  }

  it('"Send code" is the main action before a code went out; ten empty and malformed entries are refused unchecked, the code still works', async function () {
    const customer = await emailCustomer('erin');
    const browser = new Browser([SHOP]);
    const pending = await shop.startLogin({ scope: 'openid invoice', acr_values: ACR.mfa });
    const login = await browser.go(pending.url.href);
    let page = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
    const sendButton = /<form method="post" action="[^"]*\/mfa\/send">[\s\S]*?<button([^>]*)>Send code<\/button>/.exec(page.html);
    expect(sendButton?.[1], 'the send button is the focused main action').to.include('autofocus').and.not.include('secondary');
    expect(page.html, 'the code field does not take the focus').to.not.match(/<input id="code"[^>]*autofocus/);

    for (const entry of ['', '   ', '12345', 'abcdef', '1234567']) {
      page = await browser.submit(findForm(page, '/mfa'), { code: entry });
      expect(page.status).to.equal(400);
      expect(page.html).to.match(entry.trim() === '' ? /Enter the code first/ : /this try did not count/);
    }
    for (let i = 0; i < 5; i += 1) page = await browser.submit(findForm(page, '/mfa'), { code: '' });
    expect(await failuresOf(customer.id), 'nothing was counted').to.equal(0);

    page = await browser.submit(findForm(page, '/mfa/send'));
    expect(page.html, 'once sent, the code form is the main action').to.match(/<input id="code"[^>]*autofocus/);
    const done = await browser.submit(findForm(page, '/mfa'), { code: lastCodeMailedTo(server, customer.email) });
    const tokens = await shop.finishLogin(pending, done.url);
    expect(tokens.claims()?.acr).to.equal(ACR.mfa);
  });

  it('a wrong but well-formed code still counts', async function () {
    const customer = await emailCustomer('ezra');
    const browser = new Browser([SHOP]);
    const pending = await shop.startLogin({ scope: 'openid invoice', acr_values: ACR.mfa });
    const login = await browser.go(pending.url.href);
    let page = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
    page = await browser.submit(findForm(page, '/mfa/send'));
    const right = lastCodeMailedTo(server, customer.email);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    page = await browser.submit(findForm(page, '/mfa'), { code: wrong });
    expect(page.status).to.equal(400);
    expect(await failuresOf(customer.id)).to.equal(1);
    expect(parseForms(page).some((form) => form.action.endsWith('/mfa'))).to.equal(true);
  });
});
