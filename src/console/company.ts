/**
 * Company admin pages (docs/ARCHITECTURE.md "The security console and the company admin pages"): the 2FA policy, the
 * users' 2FA report, resetting a user's factors, below `/account/company`, for a console user whose account is an
 * `admin` of its company. Everything is scoped to the admin's own company: the report lists
 * `listAccounts({ companyId })` of that company only, and a member id from a URL is re-checked to belong to it (an
 * unknown and a foreign id get the same 404, so ids of other companies cannot be probed). Changes — the 2FA policy,
 * resetting or unlocking a user's second factor — need the console's fresh re-authentication (`ensureFresh`, the change
 * is parked across the round trip) and are audited with the admin as actor. Switching the policy to forced also emails
 * every other active member (`company_notice.ts`); the report and its CSV are `company_report.ts`.
 *
 * Routes: `GET /company` · `POST /company/policy` · `GET /company/report.csv` ·
 * `GET|POST /company/members/:memberId/reset` · `POST /company/members/:memberId/unlock`.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Connection } from 'mongoose';
import { findAccountById, type Account } from '../accounts/accounts.ts';
import { findCompanyById, isMfaPolicy, setCompanyPolicy, type Company, type MfaPolicy } from '../accounts/companies.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { field, requireForm } from '../http/forms.ts';
import { msg } from '../i18n/languages.ts';
import type { SecurityEvents } from '../security/events.ts';
import { activeFactors, resetFactors, unlockSecondFactor, type ActionContext } from '../security/support_actions.ts';
import type { Logger } from '../shared/logger.ts';
import { ACCOUNT_PATH } from './client.ts';
import { noticeForcedPolicy } from './company_notice.ts';
import { asksMessage, reportCsv, reportOf, roleMessage } from './company_report.ts';
import { consoleError, type ConsoleKit, type Signed } from './kit.ts';

export const COMPANY_PATH = `${ACCOUNT_PATH}/company`;

/** Account ids are UUIDs; anything else in a member URL is refused before a database look-up. */
const MEMBER_ID = /^[A-Za-z0-9-]{1,64}$/;

/** Stable ids of the confirmations shown on the company page after a change (`?done=`), and their messages. */
export const COMPANY_NOTICES = {
  policy_changed: 'company.notice.policy_changed',
  policy_unchanged: 'company.notice.policy_unchanged',
  factors_reset: 'company.notice.factors_reset',
  nothing_to_reset: 'company.notice.nothing_to_reset',
  unlocked: 'company.notice.unlocked',
  not_locked: 'company.notice.not_locked',
} as const;
type CompanyNoticeId = keyof typeof COMPANY_NOTICES;

/** How each policy is described to the admin (message ids). */
export const POLICY_TEXT: Record<MfaPolicy, { label: string; description: string }> = {
  forced: { label: 'company.policy.forced.label', description: 'company.policy.forced.description' },
  opt_in: { label: 'company.policy.opt_in.label', description: 'company.policy.opt_in.description' },
};

export interface CompanyAdminDeps {
  readonly conn: Connection;
  readonly factors: FactorRegistry;
  readonly events: SecurityEvents;
  readonly logger: Logger;
}

function notAdmin(): Error {
  return consoleError('not_company_admin', 'company.error.not_admin', 403);
}

function unknownMember(): Error {
  return consoleError('unknown_member', 'company.error.unknown_member', 404);
}

function ownAccount(): Error {
  return consoleError('own_account', 'company.error.own_account', 409);
}

/** Registers the company admin routes on the console's router (prefix `/account`). */
export function companyAdminRoutes(router: Router, kit: ConsoleKit, deps: CompanyAdminDeps): void {
  const admin: AdminPages = { kit, deps };
  router.get('/company', (ctx) => showCompany(ctx, admin));
  router.post('/company/policy', requireForm(), kit.parseForm, (ctx) => changePolicy(ctx, admin));
  router.get('/company/report.csv', (ctx) => downloadReport(ctx, admin));
  router.get('/company/members/:memberId/reset', (ctx) => showReset(ctx, admin));
  router.post('/company/members/:memberId/reset', requireForm(), kit.parseForm, (ctx) => resetMember(ctx, admin));
  router.post('/company/members/:memberId/unlock', requireForm(), kit.parseForm, (ctx) => unlockMember(ctx, admin));
}

interface AdminPages {
  readonly kit: ConsoleKit;
  readonly deps: CompanyAdminDeps;
}

const resetPath = (memberId: string): string => `${COMPANY_PATH}/members/${memberId}/reset`;

/** The admin's own company; anyone else is refused (403). */
async function adminCompany({ deps }: AdminPages, signed: Signed): Promise<Company> {
  const { account } = signed;
  if (account.companyRole !== 'admin' || !account.companyId) throw notAdmin();
  const company = await findCompanyById(deps.conn, account.companyId);
  if (!company) throw notAdmin();
  return company;
}

/** The member of the URL, only when it belongs to `company` (unknown and foreign ids alike: 404). */
async function memberOf(ctx: Context, { deps }: AdminPages, company: Company): Promise<Account> {
  const id = (ctx.params as { memberId?: string }).memberId ?? '';
  const member = MEMBER_ID.test(id) ? await findAccountById(deps.conn, id) : null;
  if (!member || member.companyId !== company.id) throw unknownMember();
  return member;
}

/** The admin's request: the browser, the console, the admin as actor. */
function actionContext(ctx: Context, { kit }: AdminPages, admin: Account): ActionContext {
  return { ...kit.origin(ctx), actor: { type: 'admin', id: admin.id } };
}

// ── the company page: policy and the users' 2FA report ───────────────────────────────────────────────────────────

async function showCompany(ctx: Context, admin: AdminPages): Promise<void> {
  const { kit, deps } = admin;
  const signed = await kit.requireSignIn(ctx, COMPANY_PATH);
  if (!signed) return;
  const company = await adminCompany(admin, signed);
  const rows = await reportOf(deps, company, signed.account);
  const pending = kit.pendingFor(signed, COMPANY_PATH);
  const done = typeof ctx.query.done === 'string' && ctx.query.done in COMPANY_NOTICES ? ctx.query.done as CompanyNoticeId : undefined;
  const chosen = pending?.policy !== undefined && isMfaPolicy(pending.policy) ? pending.policy : company.mfaPolicy;
  kit.render(ctx, 'company', {
    title: msg('company.title', { company: company.name }),
    csrf: kit.csrf.tokenFor(signed.session.id),
    company: { name: company.name, policy: company.mfaPolicy, policyText: POLICY_TEXT[company.mfaPolicy] },
    policies: (Object.keys(POLICY_TEXT) as MfaPolicy[]).map((id) => ({ id, ...POLICY_TEXT[id], checked: id === chosen })),
    notice: done ? COMPANY_NOTICES[done] : undefined,
    noticeId: done,
    pending: pending !== undefined,
    rows: rows.map((row) => ({
      ...row, roleMessage: roleMessage(row.role), asksMessage: asksMessage(row.asks),
      lockUntil: row.lock && !row.lock.permanent && row.lock.until ? row.lock.until : undefined,
    })),
    summary: { withTwoFactor: rows.filter((row) => row.hasTwoFactor).length, total: rows.length },
  });
}

async function changePolicy(ctx: Context, admin: AdminPages): Promise<void> {
  const { kit, deps } = admin;
  const { conn, logger } = deps;
  const signed = await kit.postContext(ctx);
  const company = await adminCompany(admin, signed);
  const policy = field(ctx, 'policy');
  if (!isMfaPolicy(policy)) throw consoleError('invalid_policy', 'company.error.invalid_policy', 400);
  if (!await kit.ensureFresh(ctx, signed, COMPANY_PATH, { policy })) return;
  await kit.clearPending(signed);
  if (company.mfaPolicy === policy) return kit.seeOther(ctx, `${COMPANY_PATH}?done=policy_unchanged`);
  // Forcing 2FA mails every member and changes every sign-in: said on its own page, confirmed there.
  if (policy === 'forced' && field(ctx, 'confirmed') !== 'yes') return confirmForced(ctx, admin, signed, company);
  await setCompanyPolicy(conn, company.id, policy);
  logger.info({ event: 'account.company_policy_changed', accountId: signed.account.id, companyId: company.id, policy }, 'company policy changed');
  await deps.events.record(actionContext(ctx, admin, signed.account), {
    kind: 'company_policy_changed', account: signed.account,
    details: { companyId: company.id, company: company.name, from: company.mfaPolicy, to: policy },
  });
  if (policy === 'forced' && deps.events.mailing) await noticeForcedPolicy(deps, company, signed.account);
  kit.seeOther(ctx, `${COMPANY_PATH}?done=policy_changed`);
}

/** "Make two-factor authentication mandatory?": who is mailed, what changes for them, and for the admin. */
async function confirmForced(ctx: Context, admin: AdminPages, signed: Signed, company: Company): Promise<void> {
  const { kit, deps } = admin;
  const rows = await reportOf(deps, company, signed.account);
  const others = rows.filter((row) => !row.self && row.active);
  const self = rows.find((row) => row.self);
  kit.render(ctx, 'company_policy_confirm', {
    title: msg('company.confirm.title', { company: company.name }),
    csrf: kit.csrf.tokenFor(signed.session.id),
    company: company.name,
    mailed: deps.events.mailing ? others.length : 0,
    mailing: deps.events.mailing,
    withoutTwoFactor: others.filter((row) => !row.hasTwoFactor).length,
    adminHasTwoFactor: self?.hasTwoFactor === true,
  });
}

async function downloadReport(ctx: Context, admin: AdminPages): Promise<void> {
  const { kit, deps } = admin;
  const signed = await kit.requireSignIn(ctx, `${COMPANY_PATH}/report.csv`);
  if (!signed) return;
  const company = await adminCompany(admin, signed);
  const rows = await reportOf(deps, company, signed.account);
  const day = new Date(Date.now()).toISOString().slice(0, 10);
  ctx.status = 200;
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Disposition', `attachment; filename="two-factor-report-${day}.csv"`);
  ctx.type = 'text/csv; charset=utf-8';
  // A UTF-8 byte order mark: spreadsheet programs otherwise read accented names in a legacy code page.
  ctx.body = `\ufeff${reportCsv(rows, kit.words(ctx))}`;
}

// ── per member: reset (a member who changed phones), unlock ──────────────────────────────────────────────────────

async function showReset(ctx: Context, admin: AdminPages): Promise<void> {
  const { kit, deps } = admin;
  const { factors } = deps;
  const id = (ctx.params as { memberId?: string }).memberId ?? '';
  if (!MEMBER_ID.test(id)) throw unknownMember();
  const signed = await kit.requireSignIn(ctx, resetPath(id));
  if (!signed) return;
  const company = await adminCompany(admin, signed);
  const member = await memberOf(ctx, admin, company);
  if (member.id === signed.account.id) throw ownAccount();
  const active = await activeFactors(factors, member.id);
  kit.render(ctx, 'company_reset', {
    title: msg('company.reset.title', { name: member.name }),
    csrf: kit.csrf.tokenFor(signed.session.id),
    member: { name: member.name, email: member.email },
    methods: active.map((factor) => factor.label),
    forced: company.mfaPolicy === 'forced',
    action: resetPath(member.id),
    pending: kit.pendingFor(signed, resetPath(member.id)) !== undefined,
  });
}

async function resetMember(ctx: Context, admin: AdminPages): Promise<void> {
  const { kit, deps } = admin;
  const { conn, factors, logger } = deps;
  const signed = await kit.postContext(ctx);
  const company = await adminCompany(admin, signed);
  const member = await memberOf(ctx, admin, company);
  if (member.id === signed.account.id) throw ownAccount();
  if (!await kit.ensureFresh(ctx, signed, resetPath(member.id))) return;
  await kit.clearPending(signed);
  const result = await resetFactors(
    { conn, factors, events: deps.events },
    { id: member.id, email: member.email, name: member.name },
    'admin',
    actionContext(ctx, admin, signed.account),
  );
  logger.info(
    { event: 'account.member_factors_reset', accountId: signed.account.id, memberId: member.id, removed: result.removed, unlocked: result.unlocked },
    'company admin reset a user\'s factors',
  );
  kit.seeOther(ctx, `${COMPANY_PATH}?done=${result.removed.length > 0 || result.unlocked ? 'factors_reset' : 'nothing_to_reset'}`);
}

async function unlockMember(ctx: Context, admin: AdminPages): Promise<void> {
  const { kit, deps } = admin;
  const { conn, logger } = deps;
  const signed = await kit.postContext(ctx);
  const company = await adminCompany(admin, signed);
  const member = await memberOf(ctx, admin, company);
  if (member.id === signed.account.id) throw ownAccount();
  if (!await kit.ensureFresh(ctx, signed, COMPANY_PATH, { unlock: member.id })) return;
  await kit.clearPending(signed);
  const result = await unlockSecondFactor({ conn, events: deps.events }, { id: member.id, email: member.email, name: member.name }, actionContext(ctx, admin, signed.account));
  logger.info({ event: 'account.member_unlocked', accountId: signed.account.id, memberId: member.id, unlocked: result.unlocked }, 'company admin unlock');
  kit.seeOther(ctx, `${COMPANY_PATH}?done=${result.unlocked ? 'unlocked' : 'not_locked'}`);
}
