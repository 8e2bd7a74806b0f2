/**
 * Threat: telling registered customers from unknown emails at the password step without spending a throttled attempt
 * or a password check. A password form refused early — a forged form token, an empty or oversized password — must
 * not look the email up at all: a lookup of a registered account (and of its second factors) answers later and with
 * more data than one of an unknown email, and nothing limits those refusals. The account is read only once the attempt
 * is reserved and the password is about to be checked, where the throttle and the hash's cost cover it (OWASP
 * Authentication Cheat Sheet, "Authentication and Error Messages"; docs/SECURITY.md).
 */
import { expect } from 'chai';
import type { mongo } from 'mongoose';
import { Browser, findForm, useShop } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';

describe('no email lookup before the password step\'s throttle', function () {
  const server = useTestServer('email_enumeration', { monitorCommands: true });
  const shop = useShop(server);

  /** The text of every command the server sends while `work` runs. */
  async function commandsDuring(work: () => Promise<void>): Promise<string[]> {
    const sent: string[] = [];
    const client = server.conn.getClient();
    const listener = (event: mongo.CommandStartedEvent): void => { sent.push(JSON.stringify(event.command)); };
    client.on('commandStarted', listener);
    try {
      await work();
    } finally {
      client.off('commandStarted', listener);
    }
    return sent;
  }

  const refusals: [string, (form: Record<string, string>) => Record<string, string>][] = [
    ['a forged form token', (form) => ({ ...form, csrf: 'forged' })],
    ['an empty password', (form) => ({ ...form, password: '' })],
    ['an oversized password', (form) => ({ ...form, password: 'x'.repeat(5_000) })],
  ];

  for (const [name, tamper] of refusals) {
    it(`reads no account for ${name}, registered email or not`, async function () {
      for (const email of [server.mfaAccounts.carol.email, 'nobody-registered@example.com']) {
        const browser = new Browser([server.clients.firstParty.redirectUri]);
        const login = await browser.go((await shop.startLogin()).url.href);
        const form = findForm(login, '/login');
        const fields = tamper({ ...form.fields, email, password: 'some password of a guesser' });
        let status = 0;
        const sent = await commandsDuring(async () => {
          status = (await browser.submit({ ...form, fields: {} }, fields)).status;
        });
        expect(status, name).to.be.within(400, 499);
        expect(sent.filter((command) => command.includes(email.toLowerCase())), `${name}: ${email}`).to.deep.equal([]);
        expect(sent.filter((command) => command.includes('"email"')), `${name}: ${email}`).to.deep.equal([]);
      }
    });
  }

  it('looks the email up once the attempt is reserved (the control)', async function () {
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    const login = await browser.go((await shop.startLogin()).url.href);
    const sent = await commandsDuring(async () => {
      await browser.submit(findForm(login, '/login'), { email: server.mfaAccounts.carol.email, password: 'a wrong password for carol' });
    });
    const reservation = sent.findIndex((command) => command.includes('"findAndModify":"factor_attempts"'));
    const lookup = sent.findIndex((command) => command.includes(server.mfaAccounts.carol.email.toLowerCase()));
    expect(reservation).to.be.at.least(0);
    expect(lookup).to.be.greaterThan(reservation);
  });
});
