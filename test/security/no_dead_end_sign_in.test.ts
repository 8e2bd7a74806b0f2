/**
 * Threat: a sign-in that can never finish. "Reset 2FA" once left an opt-in company member with "ask for a code at
 * every sign-in" on and no factor: every later sign-in ended in `unmet_authentication_requirements`, with no
 * enrolment and nothing support could do — locked out for good.
 * Rule: every combination of company policy × "ask at every sign-in" × factors held × what the shop asks ends in a
 * sign-in, an enrolment (then a sign-in), or the clear `unmet_authentication_requirements` answer at the shop —
 * never a loop, a 500, or a page the customer cannot get past. `unmet` is the answer only for a shop asking a level
 * from a customer who holds no factor while nothing (company, own setting, invoice privilege) demands one.
 *
 * Every row is walked over HTTP against the real provider, from a fresh browser, by a customer who does what the
 * page asks with the factors they hold (app code, mailed code; on an enrolment: the authenticator app, its manual
 * key, the recovery codes page). The expected end of each row is stated here, from the product's rules, not
 * computed by the product's decision code.
 */
import { expect } from 'chai';
import type * as oidc from 'openid-client';
import { createAccount, setSignInMfa } from '../../src/accounts/accounts.ts';
import { createCompany, type Company } from '../../src/accounts/companies.ts';
import type { Factor } from '../../src/factors/contract.ts';
import { ACR } from '../../src/policy/acr.ts';
import { resetFactors } from '../../src/security/support_actions.ts';
import { appCode, enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { useTestServer } from '../helpers/server.ts';
import { Browser, findForm, parseForms, useShop, type Page, type PendingLogin } from '../helpers/shop.ts';
import { manualKeyOf, nextCode } from '../helpers/step_up.ts';

type Policy = 'no company' | 'opt-in company' | 'forced company';
type Held = 'no factor' | 'email codes' | 'authenticator app' | 'app and email codes';
type Request = 'plain sign-in' | 'acr mfa' | 'acr mfa-app' | 'invoice scope';

interface Row {
  policy: Policy;
  askEverySignIn: boolean;
  held: Held;
  request: Request;
}

const POLICIES: Policy[] = ['no company', 'opt-in company', 'forced company'];
const HELD: Held[] = ['no factor', 'email codes', 'authenticator app', 'app and email codes'];
const REQUESTS: Request[] = ['plain sign-in', 'acr mfa', 'acr mfa-app', 'invoice scope'];

/** What each request sends; the invoice row is for an account holding the `invoice` privilege. */
const PARAMS: Record<Request, Record<string, string>> = {
  'plain sign-in': {},
  'acr mfa': { acr_values: ACR.mfa },
  'acr mfa-app': { acr_values: ACR.mfaApp },
  'invoice scope': { scope: 'openid invoice' },
};

/** The level each request asks for (the invoice scope needs level 2). */
const ASKED_LEVEL: Record<Request, number> = { 'plain sign-in': 0, 'acr mfa': 2, 'acr mfa-app': 3, 'invoice scope': 2 };

const LEVEL_OF_ACR: Record<string, number> = { [ACR.pwd]: 1, [ACR.mfa]: 2, [ACR.mfaApp]: 3 };

function labelOf(row: Row): string {
  return `${row.policy} · ${row.askEverySignIn ? 'asks at every sign-in' : 'no ask at every sign-in'} · ${row.held} · ${row.request}`;
}

/**
 * The rows that end in `unmet_authentication_requirements` at the shop, and only these: a shop asks a level (acr
 * mfa / mfa-app) of a customer who holds no factor, outside a forced company, without "ask at every sign-in". The
 * invoice scope demands enrolment of its privileged customers; a held weaker factor may add a stronger one.
 */
const UNMET_ROWS: readonly string[] = [
  'no company · no ask at every sign-in · no factor · acr mfa',
  'no company · no ask at every sign-in · no factor · acr mfa-app',
  'opt-in company · no ask at every sign-in · no factor · acr mfa',
  'opt-in company · no ask at every sign-in · no factor · acr mfa-app',
];

/**
 * The lowest level the ID token must carry when the row ends at the shop: what the request asks, and a second factor
 * (level 2) whenever the company forces it or the customer asked for a code at every sign-in.
 */
function minimumLevel(row: Row): number {
  const secondFactorDemanded = row.policy === 'forced company' || row.askEverySignIn;
  return Math.max(1, ASKED_LEVEL[row.request], secondFactorDemanded ? 2 : 1);
}

const ROWS: Row[] = POLICIES.flatMap((policy) => [false, true].flatMap((askEverySignIn) =>
  HELD.flatMap((held) => REQUESTS.map((request) => ({ policy, askEverySignIn, held, request })))));

/** The customer of one row: what they know and hold. */
interface Customer {
  id: string;
  email: string;
  password: string;
  /** The base32 secret their authenticator app holds, once they have one. */
  appSecret?: string;
}

/** How a walk ended. */
type End =
  | { kind: 'shop'; url: string; pending: PendingLogin; journey: string[] }
  | { kind: 'stuck'; reason: string; page: Page; journey: string[] };

/** Generous for the longest journey (password, send, email code, app enrolment, recovery codes). */
const MAX_PAGES = 12;

function summary(page: Page): string {
  const h1 = /<h1[^>]*>([^<]*)/.exec(page.html)?.[1] ?? '';
  const alert = /role="alert"[^>]*>([^<]*)/.exec(page.html)?.[1] ?? '';
  const text = page.html.replace(/<style[\s\S]*?<\/style>/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
  return `status ${page.status} at ${page.url}\n  h1: ${h1}\n  alert: ${alert}\n  text: ${text.slice(0, 600)}`;
}

function hasForm(page: Page, suffix: string): boolean {
  return parseForms(page).some((form) => new URL(form.action).pathname.endsWith(suffix));
}

/** What a customer sees on `page`, by the forms it offers. */
function classify(page: Page): string {
  if (page.status >= 500) return 'server error';
  if (hasForm(page, '/enrol/method')) return 'enrolment choice';
  if (hasForm(page, '/enrol/password')) return 'password confirmation';
  if (hasForm(page, '/enrol') && page.html.includes('data-key=')) return 'app enrolment';
  if (hasForm(page, '/enrol')) return 'email enrolment';
  if (hasForm(page, '/mfa/continue')) return 'recovery codes';
  if (hasForm(page, '/mfa') && hasForm(page, '/mfa/send')) return 'email code';
  if (hasForm(page, '/mfa') && page.html.includes('Recovery code')) return 'recovery code';
  if (hasForm(page, '/mfa')) return 'app code';
  if (hasForm(page, '/login')) return 'password';
  if (hasForm(page, '/confirm')) return 'consent';
  return 'unexpected page';
}

describe('no dead-end sign-in: every policy × ask-every-sign-in × factors × request ends at the shop or enrols', function () {
  const server = useTestServer('no_dead_end_sign_in', { mailer: 'config' });
  const shop = useShop(server);
  const clock = useFrozenClock();
  let app: Factor;
  let email: Factor;
  let companies: Record<Policy, Company | undefined>;
  let counter = 0;

  before(async function () {
    app = server.factors.all.find((factor) => factor.role === 'primary' && factor.enrol && !factor.challenge) as Factor;
    email = server.factors.all.find((factor) => factor.role === 'primary' && factor.challenge) as Factor;
    expect(email, 'the email factor is registered with a mailer').to.not.equal(undefined);
    companies = {
      'no company': undefined,
      'opt-in company': await createCompany(server.conn, { name: 'Opt-in Traders', mfaPolicy: 'opt_in' }),
      'forced company': await createCompany(server.conn, { name: 'Forced Traders', mfaPolicy: 'forced' }),
    };
  });

  /** The newest sign-in or verification code mailed to `address`. */
  function lastCodeMailedTo(address: string): string {
    const mail = [...(server.mailer?.outbox() ?? [])].find((entry) => entry.to.includes(address) && /code/i.test(entry.subject));
    const code = /\b(\d{6})\b/.exec(mail?.text ?? '')?.[1];
    if (!code) throw new Error(`no code mailed to ${address}`);
    return code;
  }

  /** A fresh account set up as the row says. */
  async function customerFor(row: Row): Promise<Customer> {
    counter += 1;
    const address = `row${counter}@example.com`;
    const password = `row-password-${counter}`;
    const company = companies[row.policy];
    const created = await createAccount(server.conn, {
      email: address,
      password,
      name: `Row ${counter}`,
      ...(row.request === 'invoice scope' ? { privileges: ['invoice'] as ['invoice'] } : {}),
      ...(company ? { companyId: company.id } : {}),
    });
    if (row.askEverySignIn) await setSignInMfa(server.conn, created.id, true);
    const customer: Customer = { id: created.id, email: address, password };
    if (row.held === 'email codes' || row.held === 'app and email codes') {
      const begun = await email.enrol!.begin({ id: created.id, email: address });
      expect(begun.ok, 'email enrolment begins').to.equal(true);
      expect(await email.enrol!.confirm!(created.id, lastCodeMailedTo(address))).to.include({ ok: true });
      clock.tick(1_000); // the app (when held too) is enrolled second: email codes stay the primary method
    }
    if (row.held === 'authenticator app' || row.held === 'app and email codes') {
      customer.appSecret = await enrolTotp(app as Parameters<typeof enrolTotp>[0], { id: created.id, email: address });
    }
    return customer;
  }

  /**
   * Signs `customer` in for the shop from a fresh browser, doing what each page asks, for at most {@link MAX_PAGES}
   * pages. Returns where it ended: back at the shop, or stuck (with the last page).
   */
  async function walk(customer: Customer, params: Record<string, string>): Promise<End> {
    const browser = new Browser([server.clients.firstParty.redirectUri]);
    const pending = await shop.startLogin(params);
    let page = await browser.go(pending.url.href);
    const journey: string[] = [];
    const stuck = (reason: string): End => ({ kind: 'stuck', reason, page, journey });
    for (let pages = 0; pages < MAX_PAGES; pages += 1) {
      if (page.status === 0) {
        journey.push('shop');
        return { kind: 'shop', url: page.url, pending, journey };
      }
      const kind = classify(page);
      journey.push(kind);
      switch (kind) {
        case 'password':
          if (journey.filter((seen) => seen === 'password').length > 1) return stuck('the sign-in page came back');
          page = await browser.submit(findForm(page, '/login'), { email: customer.email, password: customer.password });
          break;
        case 'app code':
          if (!customer.appSecret) return stuck('asked for an app code the customer does not have');
          page = await browser.submit(findForm(page, '/mfa'), { code: await nextCode(clock, customer.appSecret) });
          break;
        case 'email code':
          if (page.html.includes('A code was sent to')) {
            page = await browser.submit(findForm(page, '/mfa'), { code: lastCodeMailedTo(customer.email) });
          } else {
            clock.tick(31_000); // past the resend cooldown of any earlier code
            page = await browser.submit(findForm(page, '/mfa/send'));
          }
          break;
        case 'enrolment choice':
          page = await browser.submit(findForm(page, '/enrol/method'), { method: app.id });
          break;
        case 'password confirmation':
          page = await browser.submit(findForm(page, '/enrol/password'), { password: customer.password });
          break;
        case 'app enrolment': {
          const secret = manualKeyOf(page);
          clock.tick(30_000);
          const code = await appCode(secret);
          page = await browser.submit(findForm(page, '/enrol'), { code });
          customer.appSecret = secret;
          break;
        }
        case 'recovery codes':
          page = await browser.submit(findForm(page, '/mfa/continue'));
          break;
        case 'consent':
          page = await browser.submit(findForm(page, '/confirm'));
          break;
        default:
          return stuck(`${kind}`);
      }
    }
    return stuck(`no end after ${MAX_PAGES} pages (a loop)`);
  }

  function describeEnd(label: string, end: End): string {
    if (end.kind === 'shop') return `${label}\n  journey: ${end.journey.join(' → ')}\n  shop URL: ${end.url}`;
    return `${label}\n  stuck: ${end.reason}\n  journey: ${end.journey.join(' → ')}\n  last page: ${summary(end.page)}`;
  }

  /** Asserts the walk ended back at the shop with a code whose ID token proves `minLevel`; returns the tokens. */
  async function expectSignedIn(label: string, end: End, minLevel: number, invoice: boolean) {
    const where = describeEnd(label, end);
    if (end.kind !== 'shop') expect.fail(`expected back at the shop with a code:\n${where}`);
    const callback = new URL(end.url);
    expect(callback.searchParams.get('error'), `expected a code, got an error:\n${where}`).to.equal(null);
    const tokens = await shop.finishLogin(end.pending, end.url);
    const claims = tokens.claims() as oidc.IDToken;
    const level = LEVEL_OF_ACR[String(claims.acr)] ?? 0;
    expect(level, `acr ${String(claims.acr)} below level ${minLevel}:\n${where}`).to.be.at.least(minLevel);
    if (invoice) expect((tokens.scope ?? '').split(' '), `invoice not granted:\n${where}`).to.include('invoice');
    return tokens;
  }

  it('the table lists every combination once, and each unmet row is one of them', function () {
    const labels = ROWS.map(labelOf);
    expect(new Set(labels).size).to.equal(3 * 2 * 4 * 4);
    for (const unmet of UNMET_ROWS) expect(labels, unmet).to.include(unmet);
  });

  for (const row of ROWS) {
    const label = labelOf(row);
    const unmet = UNMET_ROWS.includes(label);
    const outcome = unmet
      ? 'the shop gets unmet_authentication_requirements, the customer never loops'
      : `back at the shop at level ${minimumLevel(row)} or above${row.request === 'invoice scope' ? ' with invoice' : ''}`;
    it(`${label}: ${outcome}`, async function () {
      const customer = await customerFor(row);
      const end = await walk(customer, PARAMS[row.request]);
      if (unmet) {
        const where = describeEnd(label, end);
        if (end.kind !== 'shop') expect.fail(`expected unmet_authentication_requirements at the shop:\n${where}`);
        const callback = new URL(end.url);
        expect(callback.searchParams.get('error'), where).to.equal('unmet_authentication_requirements');
        expect(callback.searchParams.get('code'), where).to.equal(null);
        expect(end.journey, `the customer saw only the password page:\n${where}`).to.deep.equal(['password', 'shop']);
        return;
      }
      await expectSignedIn(label, end, minimumLevel(row), row.request === 'invoice scope');
    });
  }

  it('after support resets the factors of an opt-in member who asks for a code at every sign-in, the next sign-in offers the enrolment and ends at the shop', async function () {
    const row: Row = { policy: 'opt-in company', askEverySignIn: true, held: 'authenticator app', request: 'plain sign-in' };
    const customer = await customerFor(row);
    const before = await walk(customer, {});
    await expectSignedIn('before the reset', before, 2, false);
    expect(before.journey, 'the app code is asked before the reset').to.include('app code');

    const reset = await resetFactors({ conn: server.conn, factors: server.factors, events: server.events }, customer, 'support', { actor: { type: 'support', id: 'support-desk' } });
    expect(reset.removed, 'the app was removed').to.include(app.id);
    delete customer.appSecret; // the lost phone

    const after = await walk(customer, {});
    expect(after.journey.some((kind) => kind === 'enrolment choice' || kind === 'app enrolment'), describeEnd('after the reset', after)).to.equal(true);
    await expectSignedIn('after the reset', after, 2, false);

    // The new app is what the following sign-in asks for.
    const next = await walk(customer, {});
    await expectSignedIn('the sign-in after the new enrolment', next, 2, false);
    expect(next.journey, describeEnd('the sign-in after the new enrolment', next)).to.deep.equal(['password', 'app code', 'shop']);
  });
});
