/**
 * Threat: someone who knows only the password of an account whose one method is email codes asks (or lets a shop
 * ask) for a level the account cannot prove — `acr_values=…:mfa-app` — and is offered to set up an authenticator
 * app right after the password: they bind their own app and leave with `acr mfa-app` and `invoice`, for good.
 * Rule: an account that holds a usable factor proves its strongest usable factor in this session before any new
 * factor is enrolled; only then may a stronger one be added.
 */
import { expect } from 'chai';
import type * as oidc from 'openid-client';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createCompany } from '../../src/accounts/companies.ts';
import type { Factor } from '../../src/factors/contract.ts';
import { ACR } from '../../src/policy/acr.ts';
import { appCode } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, parseForms, useShop, type Page } from '../helpers/shop.ts';
import { isChallenge, manualKeyOf } from '../helpers/step_up.ts';
import { lastCodeMailedTo } from '../console/support.ts';

describe('enrolment hijack by level: a stronger factor is added only after the existing one is proven', function () {
  const server = useTestServer('enrolment_hijack_by_level', { mailer: 'config' });
  const shop = useShop(server);
  const clock = useFrozenClock();
  let email: Factor;
  let counter = 0;

  before(async function () {
    email = server.factors.all.find((factor) => factor.role === 'primary' && factor.challenge) as Factor;
  });

  /** An account whose only method is email codes (no recovery codes). */
  async function emailOnlyCustomer(extra: { privileges?: ['invoice']; companyId?: string } = {}) {
    counter += 1;
    const address = `emma${counter}@example.com`;
    const password = `emma-password-${counter}`;
    const created = await createAccount(server.conn, { email: address, password, name: `Emma ${counter}`, ...extra });
    const begun = await email.enrol!.begin({ id: created.id, email: address });
    expect(begun.ok).to.equal(true);
    expect(await email.enrol!.confirm!(created.id, lastCodeMailedTo(server, address))).to.include({ ok: true });
    return { id: created.id, email: address, password };
  }

  async function afterPassword(browser: Browser, customer: { email: string; password: string }, params: Record<string, string>) {
    const pending = await shop.startLogin(params);
    const login = await browser.go(pending.url.href);
    const page = await browser.submit(findForm(login, '/login'), { email: customer.email, password: customer.password });
    return { pending, page, uid: /\/interaction\/([^/"?]+)/.exec(page.html)?.[1] ?? '' };
  }

  function showsAppEnrolment(page: Page): boolean {
    return page.html.includes('data-key=');
  }

  const cases: [string, Record<string, string>, { privileges?: ['invoice']; forced?: boolean }][] = [
    ['acr mfa-app with the invoice scope', { scope: 'openid email invoice', acr_values: ACR.mfaApp }, { privileges: ['invoice'] }],
    ['acr mfa-app alone', { acr_values: ACR.mfaApp }, { privileges: ['invoice'] }],
    ['acr mfa-app for a member of a company that forces 2FA', { acr_values: ACR.mfaApp }, { forced: true }],
  ];
  for (const [label, params, who] of cases) {
    it(`password alone never reaches the app enrolment (${label}): the email code is asked first`, async function () {
      const company = who.forced ? await createCompany(server.conn, { name: `Forced hijack ${counter}`, mfaPolicy: 'forced' }) : undefined;
      const customer = await emailOnlyCustomer({ ...(who.privileges ? { privileges: who.privileges } : {}), ...(company ? { companyId: company.id } : {}) });
      const attacker = new Browser([server.clients.firstParty.redirectUri]);
      const { page, uid } = await afterPassword(attacker, customer, params);
      expect(showsAppEnrolment(page), 'the app enrolment is shown after the password alone').to.equal(false);
      expect(isChallenge(page), `expected the email-code challenge, got ${page.status}:\n${page.html.slice(0, 600)}`).to.equal(true);

      // The browser can edit URLs and post any form: none of it reaches an enrolment.
      const csrf = parseForms(page)[0]?.fields.csrf ?? '';
      const probes = [
        await attacker.go(`${server.issuer}/interaction/${uid}?enrol=choose`),
        await attacker.go(`${server.issuer}/interaction/${uid}/enrol/method`, {
          method: 'POST', body: new URLSearchParams({ csrf, method: 'totp' }), headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
        await attacker.go(`${server.issuer}/interaction/${uid}/enrol/renew`, {
          method: 'POST', body: new URLSearchParams({ csrf }), headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
      ];
      for (const probe of probes) expect(showsAppEnrolment(probe), `a probe reached the enrolment: ${probe.url}`).to.equal(false);
    });
  }

  it('after the email code is proven, the customer may add the app and gets mfa-app with the invoice scope', async function () {
    const customer = await emailOnlyCustomer({ privileges: ['invoice'] });
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    const { pending, page } = await afterPassword(browser, customer, { scope: 'openid email invoice', acr_values: ACR.mfaApp });
    clock.tick(31_000); // past the resend cooldown of the enrolment's code
    const sent = await browser.submit(findForm(page, '/mfa/send'));
    const enrol = await browser.submit(findForm(sent, '/mfa'), { code: lastCodeMailedTo(server, customer.email) });
    expect(showsAppEnrolment(enrol), `expected the app enrolment after the email code:\n${enrol.status} ${enrol.url} ${/<h1[^>]*>[^<]*/.exec(enrol.html)?.[0]} ${/class="alert[^>]*>[^<]*/.exec(enrol.html)?.[0]}`).to.equal(true);
    clock.tick(30_000);
    const codes = await browser.submit(findForm(enrol, '/enrol'), { code: await appCode(manualKeyOf(enrol)) });
    const back = await browser.submit(findForm(codes, '/mfa/continue'));
    expect(back.status).to.equal(0);
    const tokens = await shop.finishLogin(pending, back.url);
    const claims = tokens.claims() as oidc.IDToken & { amr?: string[] };
    expect(claims.acr).to.equal(ACR.mfaApp);
    expect((tokens.scope ?? '').split(' ')).to.include('invoice');
  });
});
