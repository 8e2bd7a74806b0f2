import { expect } from 'chai';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createCompany, findCompanyById, type MfaPolicy } from '../../src/accounts/companies.ts';
import { listEvents, type AuditEvent, type AuditEventName } from '../../src/audit/audit_log.ts';
import type { TotpFactor } from '../../src/factors/totp/factor.ts';
import { enrolTotp } from '../factors/support.ts';
import { startSmtp, type TestSmtp } from '../mail/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { Browser, findForm, type Page } from '../helpers/shop.ts';
import { useTestServer } from '../helpers/server.ts';
import { signInConsole, submitWithReauth, type Customer } from './support.ts';

/**
 * Mail bombing through the company policy: an admin toggling the 2FA policy between forced and opt-in must not make
 * the product mail every member at each switch. A member hears of a policy state at most once a day (per company,
 * member and state); the notices not sent are audited on the member's account. Mails go through SMTP to an
 * in-process server.
 */
const DAY_MS = 24 * 60 * 60_000;
const POLICY_SUBJECT = /^Your company now requires two-factor authentication/;

describe('policy mail bombing: toggling the company policy', function () {
  let smtp: TestSmtp;
  before(async function () {
    smtp = await startSmtp();
  });
  const server = useTestServer('policy_mail_bombing', () => ({ env: { SMTP_URL: smtp.url }, mailer: 'config' }));
  const clock = useFrozenClock();
  after(async function () {
    await smtp?.close();
  });

  async function member(companyId: string, name: string, role?: 'admin', withApp = false): Promise<Customer> {
    const email = `${name.toLowerCase().replace(/\W+/g, '.')}@example.com`;
    const password = `${name.toLowerCase().replace(/\W+/g, '')}-password-8`;
    const created = await createAccount(server.conn, { email, password, name, companyId, ...(role ? { companyRole: role } : {}) });
    const customer: Customer = { id: created.id, email, password };
    if (withApp) customer.totpSecret = await enrolTotp(server.factors.get('totp') as TotpFactor, customer);
    return customer;
  }

  /** The company page of a fresh console sign-in of `admin`. */
  async function companyPage(admin: Customer): Promise<{ browser: Browser; page: Page }> {
    const browser = new Browser();
    await signInConsole(server, browser, admin, clock);
    const page = await browser.go(`${server.issuer}/account/company`);
    expect(page.status, page.html.slice(0, 600)).to.equal(200);
    return { browser, page };
  }

  /** Saves `policy` on the company page like the admin does (re-authenticating when the console asks). */
  async function switchTo(browser: Browser, page: Page, admin: Customer, policy: MfaPolicy): Promise<Page> {
    const { page: landed, reauthenticated } = await submitWithReauth(browser, page, 'policy-form', admin, clock, { policy });
    const submitted = reauthenticated ? await browser.submit(findForm(landed, 'policy-form')) : landed;
    // Forcing 2FA is confirmed on its own page.
    const done = submitted.html.includes('id="policy-confirm-form"') ? await browser.submit(findForm(submitted, 'policy-confirm-form')) : submitted;
    expect(done.url, done.html.slice(0, 600)).to.equal(`${server.issuer}/account/company?done=policy_changed`);
    expect(done.html).to.include(`data-policy="${policy}"`);
    return done;
  }

  /** The policy mails `who` received through SMTP. */
  function policyMails(who: Customer): number {
    return smtp.received.filter((mail) => mail.envelopeTo.includes(who.email) && POLICY_SUBJECT.test(mail.parsed.subject ?? '')).length;
  }

  async function records(who: Customer, event: AuditEventName): Promise<AuditEvent[]> {
    return (await listEvents(server.conn, who.id, { limit: 200 })).filter((record) => record.event === event);
  }

  describe('an admin toggling forced → opt-in → forced → opt-in → forced', function () {
    let companyId: string;
    let admin: Customer;
    let members: Customer[];
    let page: Page;
    let browser: Browser;

    before(async function () {
      companyId = (await createCompany(server.conn, { name: 'Toggle Corp', mfaPolicy: 'forced' })).id;
      admin = await member(companyId, 'Ada Toggle', 'admin', true);
      members = [await member(companyId, 'Mia Member', undefined, true), await member(companyId, 'Noah Newcomer')];
    });

    it('mails each member about the forced policy exactly once, and the admin never', async function () {
      ({ browser, page } = await companyPage(admin));
      expect(page.html).to.include('data-policy="forced"');
      for (const policy of ['opt_in', 'forced', 'opt_in', 'forced'] as const) page = await switchTo(browser, page, admin, policy);
      expect((await findCompanyById(server.conn, companyId))?.mfaPolicy).to.equal('forced');
      for (const who of members) expect(policyMails(who), who.email).to.equal(1);
      expect(policyMails(admin)).to.equal(0);
    });

    it('each notice not sent is in the member\'s audit log, with the admin as actor and the reason', async function () {
      for (const who of members) {
        expect(await records(who, 'company_policy_forced'), who.email).to.have.length(1);
        const skipped = await records(who, 'company_policy_notice_skipped');
        expect(skipped, who.email).to.have.length(1);
        expect(skipped[0]?.actor).to.deep.equal({ type: 'admin', id: admin.id });
        expect(skipped[0]?.details).to.include({ companyId, state: 'forced', reason: 'already_notified' });
      }
      expect(await records(admin, 'company_policy_notice_skipped')).to.have.length(0);
    });

    it('a switch to forced a few minutes short of a day later mails nobody; a day after the notice it mails each member again', async function () {
      const noticeAt = (await records(members[0] as Customer, 'company_policy_forced'))[0]?.at as Date;
      clock.setSystemTime(noticeAt.getTime() + DAY_MS - 3 * 60_000);
      ({ browser, page } = await companyPage(admin));
      page = await switchTo(browser, page, admin, 'opt_in');
      page = await switchTo(browser, page, admin, 'forced');
      for (const who of members) {
        expect(policyMails(who), who.email).to.equal(1);
        expect(await records(who, 'company_policy_notice_skipped'), who.email).to.have.length(2);
      }

      clock.setSystemTime(noticeAt.getTime() + DAY_MS);
      page = await switchTo(browser, page, admin, 'opt_in');
      page = await switchTo(browser, page, admin, 'forced');
      for (const who of members) {
        expect(policyMails(who), who.email).to.equal(2);
        expect(await records(who, 'company_policy_forced'), who.email).to.have.length(2);
      }
      // and the day starts again from this notice
      page = await switchTo(browser, page, admin, 'opt_in');
      await switchTo(browser, page, admin, 'forced');
      for (const who of members) expect(policyMails(who), who.email).to.equal(2);
    });
  });

  it('several switches to forced in flight at once mail each member once', async function () {
    const companyId = (await createCompany(server.conn, { name: 'Race Corp', mfaPolicy: 'opt_in' })).id;
    const admin = await member(companyId, 'Rita Race', 'admin', true);
    const members = [await member(companyId, 'Raj Racer', undefined, true), await member(companyId, 'Ria Racer')];
    const { browser, page } = await companyPage(admin);
    // a fresh re-authentication first (saving the policy the company already has), so that the burst is accepted at once
    const { page: landed, reauthenticated } = await submitWithReauth(browser, page, 'policy-form', admin, clock, { policy: 'opt_in' });
    const unchanged = reauthenticated ? await browser.submit(findForm(landed, 'policy-form')) : landed;
    expect(unchanged.url).to.equal(`${server.issuer}/account/company?done=policy_unchanged`);
    const form = findForm(await browser.submit(findForm(unchanged, 'policy-form'), { policy: 'forced' }), 'policy-confirm-form');
    const burst = await Promise.all(Array.from({ length: 4 }, () => browser.submit(form)));
    for (const done of burst) expect(done.url).to.match(/\/account\/company\?done=policy_(changed|unchanged)$/);
    expect((await findCompanyById(server.conn, companyId))?.mfaPolicy).to.equal('forced');
    for (const who of members) {
      expect(policyMails(who), who.email).to.equal(1);
      expect(await records(who, 'company_policy_forced'), who.email).to.have.length(1);
    }
  });
});
