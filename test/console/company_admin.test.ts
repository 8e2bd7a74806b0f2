import { expect } from 'chai';
import { createAccount, findAccountById, setAccountStatus } from '../../src/accounts/accounts.ts';
import { createCompany, findCompanyById } from '../../src/accounts/companies.ts';
import { listEvents } from '../../src/audit/audit_log.ts';
import { createAttemptLimiter } from '../../src/factors/shared/attempts.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { enrolTotp } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { changeWithReauth, isLoginForm, mailsTo, signInConsole, submitWithReauth, type Customer } from './support.ts';
import { failOnce } from '../factors/support.ts';

/** Parses RFC 4180 CSV (quoted cells, doubled quotes, CRLF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i] as string;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') { cell += '"'; i += 1; } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') { row.push(cell); cell = ''; } else if (char === '\r' && text[i + 1] === '\n') {
      row.push(cell); rows.push(row); row = []; cell = ''; i += 1;
    } else cell += char;
  }
  if (cell || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

/** The report row of `memberId` on the company page. */
function rowOf(page: Page, memberId: string): string {
  const match = new RegExp(`<tr data-member="${memberId}"[\\s\\S]*?</tr>`).exec(page.html);
  if (!match) throw new Error(`no report row for ${memberId}:\n${page.html.slice(0, 1500)}`);
  return match[0];
}

/** Company admin pages below /account/company (docs/ARCHITECTURE.md), over HTTP like a browser. */
describe('account console: company admin', function () {
  const server = useTestServer('company_admin', { mailer: 'config' });
  const clock = useFrozenClock();
  let companyId: string;
  let admin: Customer;
  let fred: Customer;
  let lena: Customer;
  let otherAdmin: Customer;
  let otherMember: { id: string };

  async function member(name: string, email: string, company: string, role?: 'admin', withApp = false): Promise<Customer> {
    const password = `${email.split('@')[0]}-password-9`;
    const created = await createAccount(server.conn, { email, password, name, companyId: company, ...(role ? { companyRole: role } : {}) });
    const customer: Customer = { id: created.id, email, password };
    if (withApp) customer.totpSecret = await enrolTotp(server.factors.get('totp') as TotpFactor, customer);
    return customer;
  }

  async function signInAdmin(who: Customer = admin): Promise<{ browser: Browser; page: Page }> {
    const browser = new Browser();
    const overview = await signInConsole(server, browser, who, clock);
    expect(overview.html).to.include('id="company-link"');
    return { browser, page: await browser.go(`${server.issuer}/account/company`) };
  }

  before(async function () {
    companyId = (await findAccountById(server.conn, server.mfaAccounts.fred.id))?.companyId as string;
    fred = { ...server.mfaAccounts.fred, totpSecret: server.totpSecrets.fred };
    admin = await member('Ada Admin', 'ada@example.com', companyId, 'admin', true);
    lena = await member('Lena Locked', 'lena@example.com', companyId, undefined, true);
    await member('=HYPERLINK("http://evil.test"), "Mal"', 'mallory@example.com', companyId);
    const other = await createCompany(server.conn, { name: 'Other Corp', mfaPolicy: 'opt_in' });
    otherAdmin = await member('Otto Other', 'otto.other@example.com', other.id, 'admin');
    otherMember = await member('Olga Other', 'olga.other@example.com', other.id, undefined, true);
  });

  it('a console user who is not a company admin sees no Company link and gets a 403 page', async function () {
    const browser = new Browser();
    const overview = await signInConsole(server, browser, fred, clock);
    expect(overview.html).to.not.include('id="company-link"');
    const page = await browser.go(`${server.issuer}/account/company`);
    expect(page.status).to.equal(403);
    expect(page.html).to.include('not_company_admin');
    expect(page.html).to.not.include('gina@example.com');
    const csv = await browser.go(`${server.issuer}/account/company/report.csv`);
    expect(csv.status).to.equal(403);
    expect(csv.headers.get('content-disposition')).to.equal(null);
    // a forged policy form with the user's own valid CSRF token is refused too
    const forged = await browser.submit({ ...findForm(overview, 'logout-form'), action: `${server.issuer}/account/company/policy` }, { policy: 'opt_in' });
    expect(forged.status).to.equal(403);
    expect((await findCompanyById(server.conn, companyId))?.mfaPolicy).to.equal('forced');
  });

  it('the report lists each member of the admin\'s company with methods, sign-in setting and lock — and no one else', async function () {
    // five wrong codes lock lena's second factor for a minute
    const limiter = createAttemptLimiter(server.conn);
    for (let i = 0; i < 5; i += 1) await failOnce(limiter, lena.id);
    const { browser, page } = await signInAdmin();
    expect(page.status).to.equal(200);
    expect(page.headers.get('cache-control')).to.include('no-store');
    expect(page.html).to.include('Forced company_admin');
    expect(page.html).to.include('data-policy="forced"');
    expect(page.html).to.match(/<caption>[^<]+<\/caption>/);
    expect(page.html).to.include('<th scope="col">Methods set up</th>');
    expect(page.html).to.include('<th scope="row">Fred Forced</th>');
    // ada, fred, lena have an app; gina and mallory have none
    expect(page.html).to.include('3 of 5 users have 2FA.');
    const fredRow = rowOf(page, fred.id);
    expect(fredRow).to.include('data-has-2fa="true"');
    expect(fredRow).to.include('Authenticator app');
    expect(fredRow).to.include('Yes (company policy)');
    expect(fredRow).to.include(`/account/company/members/${fred.id}/reset`);
    expect(fredRow).to.not.include('unlock-');
    const ginaRow = rowOf(page, server.mfaAccounts.gina.id);
    expect(ginaRow).to.include('data-has-2fa="false"');
    expect(ginaRow).to.include('None');
    expect(ginaRow).to.not.include('Reset 2FA');
    const lenaRow = rowOf(page, lena.id);
    expect(lenaRow).to.include('data-locked="true"');
    expect(lenaRow).to.include(`id="unlock-${lena.id}"`);
    expect(rowOf(page, admin.id)).to.include('Your own settings');
    // pug escapes the names; nobody of another company (or without one) is listed
    expect(page.html).to.include('=HYPERLINK(&quot;http://evil.test&quot;), &quot;Mal&quot;');
    expect(page.html).to.not.include('olga.other@example.com');
    expect(page.html).to.not.include('alice@example.com');

    // unlocking lena needs a fresh sign-in of the admin; its app codes take a minute of the frozen clock, so lena's
    // first lockout is over by then and she is locked again before the admin unlocks her
    const { page: back, reauthenticated } = await submitWithReauth(browser, page, `unlock-${lena.id}`, admin, clock);
    expect(reauthenticated).to.equal(true);
    expect(back.url).to.equal(`${server.issuer}/account/company`);
    for (let i = 0; i < 5; i += 1) await failOnce(limiter, lena.id);
    const relocked = await browser.go(`${server.issuer}/account/company`);
    const unlocked = await browser.submit(findForm(relocked, `unlock-${lena.id}`));
    expect(unlocked.url).to.equal(`${server.issuer}/account/company?done=unlocked`);
    expect(rowOf(unlocked, lena.id)).to.include('data-locked="false"');
    const record = (await listEvents(server.conn, lena.id)).find((event) => event.event === 'account_unlocked');
    expect(record?.actor).to.deep.equal({ type: 'admin', id: admin.id });
  });

  it('downloads the report as CSV: attachment, escaped commas and quotes, formulas neutralised', async function () {
    const { browser } = await signInAdmin();
    const csv = await browser.go(`${server.issuer}/account/company/report.csv`);
    expect(csv.status).to.equal(200);
    expect(csv.headers.get('content-type')).to.match(/^text\/csv; charset=utf-8/);
    expect(csv.headers.get('content-disposition')).to.match(/^attachment; filename="two-factor-report-\d{4}-\d{2}-\d{2}\.csv"$/);
    expect(csv.headers.get('cache-control')).to.include('no-store');
    expect(csv.html).to.include('"\'=HYPERLINK(""http://evil.test""), ""Mal"""');
    const rows = parseCsv(csv.html);
    expect(rows[0]).to.deep.equal(['Name', 'Email', 'Role', 'Two-factor authentication', 'Methods', 'Recovery codes left', 'Asks at every sign-in', 'Locked']);
    expect(rows).to.have.length(6);
    const byEmail = new Map(rows.slice(1).map((row) => [row[1], row]));
    expect(byEmail.get('fred@example.com')).to.deep.equal(['Fred Forced', 'fred@example.com', 'Member', 'Yes', 'Authenticator app', '', 'Yes (company policy)', 'No']);
    expect(byEmail.get('ada@example.com')?.[2]).to.equal('Admin');
    expect(byEmail.get('gina@example.com')?.[3]).to.equal('No');
    expect(byEmail.get('mallory@example.com')?.[0]).to.equal('\'=HYPERLINK("http://evil.test"), "Mal"');
    expect(byEmail.has('olga.other@example.com')).to.equal(false);
  });

  it('a stale sign-in is sent to re-authenticate before a policy change or a reset, and nothing changes', async function () {
    const { browser, page } = await signInAdmin();
    clock.tick(6 * 60_000);
    const policy = await browser.submit(findForm(page, 'policy-form'), { policy: 'opt_in' });
    expect(isLoginForm(policy), policy.html.slice(0, 400)).to.equal(true);
    expect((await findCompanyById(server.conn, companyId))?.mfaPolicy).to.equal('forced');

    const confirm = await browser.go(`${server.issuer}/account/company/members/${fred.id}/reset`);
    expect(confirm.status).to.equal(200);
    const reset = await browser.submit(findForm(confirm, 'reset-form'));
    expect(isLoginForm(reset)).to.equal(true);
    expect(await server.factors.hasPrimaryFactor(fred.id)).to.equal(true);
  });

  it('switches the policy after re-authentication: mfaPolicy changes and the audit log names the admin', async function () {
    const { browser, page } = await signInAdmin();
    clock.tick(6 * 60_000);
    const { page: back, reauthenticated } = await submitWithReauth(browser, page, 'policy-form', admin, clock, { policy: 'opt_in' });
    expect(reauthenticated).to.equal(true);
    expect(back.url).to.equal(`${server.issuer}/account/company`);
    expect(back.html).to.include('data-pending="true"');
    expect(back.html).to.match(/value="opt_in" checked/);
    expect((await findCompanyById(server.conn, companyId))?.mfaPolicy, 'nothing changed before the confirmation').to.equal('forced');
    const done = await browser.submit(findForm(back, 'policy-form'));
    expect(done.url).to.equal(`${server.issuer}/account/company?done=policy_changed`);
    expect(done.html).to.include('data-policy="opt_in"');
    expect((await findCompanyById(server.conn, companyId))?.mfaPolicy).to.equal('opt_in');
    const record = (await listEvents(server.conn, admin.id)).find((event) => event.event === 'company_policy_changed');
    expect(record?.actor).to.deep.equal({ type: 'admin', id: admin.id });
    expect(record?.details).to.include({ companyId, from: 'forced', to: 'opt_in' });

    // back to forced (still fresh: no second round trip), confirmed on its own page: nothing changes before that
    const confirm = await browser.submit(findForm(done, 'policy-form'), { policy: 'forced' });
    expect(confirm.html).to.include('Make two-factor authentication mandatory').and.include('id="confirm-question"');
    expect((await findCompanyById(server.conn, companyId))?.mfaPolicy).to.equal('opt_in');
    const restored = await browser.submit(findForm(confirm, 'policy-confirm-form'));
    expect(restored.url).to.equal(`${server.issuer}/account/company?done=policy_changed`);
    expect((await findCompanyById(server.conn, companyId))?.mfaPolicy).to.equal('forced');
  });

  it('resets fred\'s factors after "Are you sure?" and re-authentication (a member who changed phones)', async function () {
    const { browser } = await signInAdmin();
    clock.tick(6 * 60_000);
    const confirm = await browser.go(`${server.issuer}/account/company/members/${fred.id}/reset`);
    expect(confirm.html).to.include('Are you sure?');
    expect(confirm.html).to.include('Authenticator app');
    const { page: back, reauthenticated } = await submitWithReauth(browser, confirm, 'reset-form', admin, clock);
    expect(reauthenticated).to.equal(true);
    expect(back.html).to.include('data-pending="true"');
    expect(await server.factors.hasPrimaryFactor(fred.id), 'nothing removed before the confirmation').to.equal(true);
    const done = await browser.submit(findForm(back, 'reset-form'));
    expect(done.url).to.equal(`${server.issuer}/account/company?done=factors_reset`);
    expect(rowOf(done, fred.id)).to.include('data-has-2fa="false"');
    expect(await server.factors.hasPrimaryFactor(fred.id)).to.equal(false);
    const record = (await listEvents(server.conn, fred.id)).find((event) => event.event === 'factors_reset');
    expect(record?.actor).to.deep.equal({ type: 'admin', id: admin.id });
    expect(record?.details).to.include({ by: 'admin' });
    expect(mailsTo(server, fred.email).length).to.be.greaterThan(0);
  });

  it('refuses foreign and unknown members, the admin\'s own account, a missing CSRF token and a bad policy (4xx, nothing changed)', async function () {
    const { browser, page } = await signInAdmin();
    const csrf = findForm(page, 'policy-form').fields.csrf as string;
    const post = (path: string, fields: Record<string, string>): Promise<Page> => browser.request(`${server.issuer}${path}`, {
      method: 'POST',
      body: new URLSearchParams(fields),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });

    for (const id of [otherMember.id, otherAdmin.id, server.mfaAccounts.carol.id, 'no-such-member']) {
      const shown = await browser.go(`${server.issuer}/account/company/members/${id}/reset`);
      expect(shown.status, id).to.equal(404);
      expect(shown.html).to.include('unknown_member');
      const reset = await post(`/account/company/members/${id}/reset`, { csrf });
      expect(reset.status, id).to.equal(404);
      const unlock = await post(`/account/company/members/${id}/unlock`, { csrf });
      expect(unlock.status, id).to.equal(404);
    }
    expect(await server.factors.hasPrimaryFactor(otherMember.id)).to.equal(true);
    expect((await listEvents(server.conn, otherMember.id)).map((event) => event.event)).to.not.include('factors_reset');

    const odd = await browser.go(`${server.issuer}/account/company/members/${encodeURIComponent('../x')}/reset`);
    expect(odd.status).to.be.within(400, 499);

    const own = await post(`/account/company/members/${admin.id}/reset`, { csrf });
    expect(own.status).to.equal(409);
    expect(own.html).to.include('own_account');
    expect(await server.factors.hasPrimaryFactor(admin.id)).to.equal(true);

    const noCsrf = await post('/account/company/policy', { policy: 'opt_in' });
    expect(noCsrf.status).to.equal(403);
    const badPolicy = await post('/account/company/policy', { csrf, policy: 'sometimes' });
    expect(badPolicy.status).to.equal(400);
    expect(badPolicy.html).to.include('invalid_policy');
    const resetNoCsrf = await post(`/account/company/members/${lena.id}/reset`, {});
    expect(resetNoCsrf.status).to.equal(403);
    expect(await server.factors.hasPrimaryFactor(lena.id)).to.equal(true);
    expect((await findCompanyById(server.conn, companyId))?.mfaPolicy).to.equal('forced');
  });

  it('another company\'s admin sees only their own company', async function () {
    const browser = new Browser();
    await signInConsole(server, browser, otherAdmin, clock);
    const page = await browser.go(`${server.issuer}/account/company`);
    expect(page.status).to.equal(200);
    expect(page.html).to.include('Other Corp');
    expect(page.html).to.include('data-policy="opt_in"');
    expect(page.html).to.include('1 of 2 users have 2FA.');
    expect(page.html).to.not.include('fred@example.com');
    const fredReset = await browser.go(`${server.issuer}/account/company/members/${fred.id}/reset`);
    expect(fredReset.status).to.equal(404);
  });

  it('switching to forced emails every other active member (set up, or a code at every sign-in) with their own audit record; opt-in emails nobody', async function () {
    const companyName = (await findCompanyById(server.conn, companyId))?.name as string;
    const gone = await member('Dora Disabled', 'dora@example.com', companyId);
    await setAccountStatus(server.conn, gone.id, 'disabled');
    const gina = server.mfaAccounts.gina;
    // a day after the earlier switches to forced: a member hears of a policy state at most once a day
    clock.tick(24 * 60 * 60_000);
    const { browser, page } = await signInAdmin();
    const seen = new Set((server.mailer?.outbox() ?? []).map((mail) => mail.messageId));
    const newMails = (): { to: string; subject: string; text: string }[] => (server.mailer?.outbox() ?? [])
      .filter((mail) => !seen.has(mail.messageId))
      .map((mail) => ({ to: mail.to, subject: mail.subject, text: mail.text }));

    const optIn = await changeWithReauth(browser, page, 'policy-form', admin, clock, { policy: 'opt_in' });
    expect(optIn.url).to.equal(`${server.issuer}/account/company?done=policy_changed`);
    expect(newMails(), 'opt-in mails nobody').to.deep.equal([]);

    const confirm = await browser.submit(findForm(optIn, 'policy-form'), { policy: 'forced' });
    expect(newMails(), 'nobody is mailed before the confirmation').to.deep.equal([]);
    expect(confirm.html).to.match(/id="mailed" data-mailed="4">4 members will be emailed about it/);
    const forced = await browser.submit(findForm(confirm, 'policy-confirm-form'));
    expect(forced.url).to.equal(`${server.issuer}/account/company?done=policy_changed`);
    expect((await findCompanyById(server.conn, companyId))?.mfaPolicy).to.equal('forced');
    const mails = newMails();
    expect(mails.map((mail) => mail.to)).to.have.members([fred.email, gina.email, lena.email, 'mallory@example.com']);
    for (const mail of mails) expect(mail.subject).to.match(/^Your company now requires two-factor authentication for \S/);
    const to = (address: string): string => mails.find((mail) => mail.to === address)?.text ?? '';
    expect(to(lena.email)).to.include(`${companyName} now requires two-factor authentication: you will be asked for a code at every sign-in.`);
    expect(to(gina.email)).to.include(`${companyName} now requires two-factor authentication: at your next sign-in you will be asked to set up an authenticator app or email codes.`);
    expect(to(admin.email) + to(gone.email) + to('olga.other@example.com')).to.equal('');

    const lenaRecord = (await listEvents(server.conn, lena.id)).find((event) => event.event === 'company_policy_forced');
    expect(lenaRecord?.actor).to.deep.equal({ type: 'admin', id: admin.id });
    expect(lenaRecord?.details).to.include({ companyId, company: companyName, enrolled: true });
    const ginaRecord = (await listEvents(server.conn, gina.id)).find((event) => event.event === 'company_policy_forced');
    expect(ginaRecord?.details).to.include({ enrolled: false });
    for (const id of [admin.id, gone.id]) {
      expect((await listEvents(server.conn, id)).map((event) => event.event), id).to.not.include('company_policy_forced');
    }
  });
});
