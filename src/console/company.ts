/**
 * Company admin pages (docs/ARCHITECTURE.md "The security console and the company admin pages"): the 2FA policy, the
 * users' 2FA report, resetting a user's factors, below `/account/company`, for a console user whose account is an
 * `admin` of its company. Everything is scoped to the admin's own company: the report lists
 * `listAccounts({ companyId })` of that company only, and a member id from a URL is re-checked to belong to it (an
 * unknown and a foreign id get the same 404, so ids of other companies cannot be probed). Changes — the 2FA policy,
 * resetting or unlocking a user's second factor — need the console's fresh re-authentication (`ensureFresh`, the change
 * is parked across the round trip) and are audited with the admin as actor. Switching the policy to forced also emails
 * every other active member (`company_policy_forced`) — at most once a day per company, member and policy state,
 * however often the admin toggles (`policy_notices`); a notice not sent is audited on the member's account
 * (`company_policy_notice_skipped`).
 *
 * Routes: `GET /company` · `POST /company/policy` · `GET /company/report.csv` ·
 * `GET|POST /company/members/:memberId/reset` · `POST /company/members/:memberId/unlock`.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { Schema, type Connection, type Model } from 'mongoose';
import { findAccountById, listAccounts, signInMfaEnabled, type Account } from '../accounts/accounts.ts';
import { findCompanyById, isMfaPolicy, setCompanyPolicy, type Company, type MfaPolicy } from '../accounts/companies.ts';
import { recordEvent } from '../audit/audit_log.ts';
import type { LockState } from '../factors/contract.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { readLockState } from '../factors/shared/attempts.ts';
import { notifySecurityEvent, type NotifyDeps } from '../mail/notify.ts';
import { activeFactors, resetFactors, unlockSecondFactor, type ActionContext } from '../security/support_actions.ts';
import { isDuplicateKeyError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { ACCOUNT_PATH } from './client.ts';
import { field, requireForm } from '../http/forms.ts';
import { consoleError, type ConsoleKit, type Signed } from './kit.ts';
import { oncePerConnection } from '../store/once_per_connection.ts';

export const COMPANY_PATH = `${ACCOUNT_PATH}/company`;

/** Account ids are UUIDs; anything else in a member URL is refused before a database look-up. */
const MEMBER_ID = /^[A-Za-z0-9-]{1,64}$/;

/** Stable ids of the confirmations shown on the company page after a change (`?done=`). */
export const COMPANY_NOTICES = {
  policy_changed: 'The two-factor policy was saved.',
  policy_unchanged: 'The two-factor policy already had this value; nothing was changed.',
  factors_reset: 'The user\'s two-factor methods were removed. They set up a new device at their next sign-in that asks for one.',
  nothing_to_reset: 'This user had no two-factor method; nothing was changed.',
  unlocked: 'The user\'s second factor was unlocked.',
  not_locked: 'This user\'s second factor was not locked; nothing was changed.',
} as const;
type CompanyNoticeId = keyof typeof COMPANY_NOTICES;

/** How each policy is described to the admin. */
export const POLICY_TEXT: Record<MfaPolicy, { label: string; description: string }> = {
  forced: { label: 'Forced', description: 'Everyone must set up two-factor authentication at their next sign-in.' },
  opt_in: { label: 'Opt-in', description: 'Each user chooses whether to set up two-factor authentication.' },
};

/** How many policy notices are sent at once: a large company must not open a burst of SMTP connections. */
const POLICY_NOTICE_CONCURRENCY = 4;

/** How long a member told of a policy state is not told of that state again: a day (an admin toggling mails no one twice). */
export const POLICY_NOTICE_INTERVAL_MS = 24 * 60 * 60_000;

/** One notice a member got: `_id` is `${companyId}:${accountId}:${state}`, so there is one per company, member and state. */
interface PolicyNoticeDoc {
  _id: string;
  companyId: string;
  accountId: string;
  state: MfaPolicy;
  noticedAt: Date;
  /** Until when no other notice of `state` goes to the member; the TTL index then deletes the document. */
  expiresAt: Date;
}

const policyNoticeSchema = new Schema<PolicyNoticeDoc>(
  {
    _id: { type: String, required: true },
    companyId: { type: String, required: true },
    accountId: { type: String, required: true },
    state: { type: String, required: true },
    noticedAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { versionKey: false, strict: 'throw', autoIndex: false, autoCreate: false, collection: 'policy_notices' },
);
policyNoticeSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'expires_at_ttl' });

function policyNoticeModel(conn: Connection): Model<PolicyNoticeDoc> {
  return (conn.models.PolicyNotice as Model<PolicyNoticeDoc> | undefined)
    ?? conn.model<PolicyNoticeDoc>('PolicyNotice', policyNoticeSchema, 'policy_notices');
}

/** Creates the indexes of `policy_notices` (TTL on `expiresAt`); idempotent, once per connection. Call it at start-up. */
export const ensurePolicyNoticeIndexes = oncePerConnection((conn) => policyNoticeModel(conn).createIndexes());

/**
 * Claims the notice of `state` to one member: `true` at most once per {@link POLICY_NOTICE_INTERVAL_MS} for a company,
 * member and state. One conditional upsert, so two switches in flight cannot both claim it: a notice still running
 * does not match the filter, the upsert then inserts its `_id` again and collides (E11000). An expired notice the
 * TTL index has not deleted yet matches and is renewed.
 */
async function claimPolicyNotice(
  conn: Connection, notice: { companyId: string; accountId: string; state: MfaPolicy }, now: Date,
): Promise<{ claimed: true; release(): Promise<void> } | { claimed: false }> {
  await ensurePolicyNoticeIndexes(conn);
  const model = policyNoticeModel(conn);
  const _id = `${notice.companyId}:${notice.accountId}:${notice.state}`;
  try {
    await model.updateOne(
      { _id, expiresAt: { $lte: now } },
      {
        $set: { noticedAt: now, expiresAt: new Date(now.getTime() + POLICY_NOTICE_INTERVAL_MS) },
        $setOnInsert: { companyId: notice.companyId, accountId: notice.accountId, state: notice.state },
      },
      { upsert: true },
    );
  } catch (err) {
    if (isDuplicateKeyError(err)) return { claimed: false };
    throw err;
  }
  // a notice that could not be delivered gives its place back: the next switch may try again
  return { claimed: true, release: async () => { await model.deleteOne({ _id, noticedAt: now }); } };
}

export interface CompanyAdminDeps {
  readonly conn: Connection;
  readonly factors: FactorRegistry;
  readonly notify?: NotifyDeps | undefined;
  readonly logger: Logger;
}

/** One row of the users' 2FA report. */
export interface MemberReport {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly role: 'Admin' | 'Member';
  readonly self: boolean;
  readonly active: boolean;
  /** Labels of the primary methods set up ("Authenticator app", "Email code"). */
  readonly methods: readonly string[];
  /** Recovery codes left, when the user has them. */
  readonly recoveryLeft: number | undefined;
  readonly hasTwoFactor: boolean;
  /** Whether any factor (backups included) exists: what a reset would remove. */
  readonly resettable: boolean;
  /** `user`: the user turned it on; `company`: the forced policy asks; `no`. */
  readonly asks: 'user' | 'company' | 'no';
  readonly lock: LockState | undefined;
}

function notAdmin(): Error {
  return consoleError(
    'not_company_admin',
    'Only an admin of your company can open the company pages. Ask your company admin if something needs to change.',
    403,
  );
}

function unknownMember(): Error {
  return consoleError('unknown_member', 'This user is not in your company. Go back to the company page and choose a user from the list.', 404);
}

function ownAccount(): Error {
  return consoleError('own_account', 'To change your own two-factor methods, use your security settings.', 409);
}

function lockText(lock: LockState | undefined): string {
  if (!lock) return 'No';
  if (lock.permanent || !lock.until) return 'Locked until unlocked';
  return `Locked until ${lock.until.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function asksText(asks: MemberReport['asks']): string {
  if (asks === 'company') return 'Yes (company policy)';
  return asks === 'user' ? 'Yes' : 'No';
}

/**
 * Where a spreadsheet may start reading a formula (OWASP "CSV Injection"): at the start of the cell or after any
 * delimiter a spreadsheet may split on (`,`; `;` in German Excel; tab; `|`; a line break), after optional
 * whitespace, a `=`, `+`, `-` or `@` — or a tab or carriage return.
 */
const FORMULA_START = /(?:^|[,;\t|\r\n])(?:[ \t]*[=+\-@]|[\t\r])/;

/**
 * One CSV cell (RFC 4180 §2): always quoted, inner quotes doubled, so no spreadsheet splits it whatever delimiter it
 * uses. A cell that could start a formula anywhere ({@link FORMULA_START}) gets a leading `'` (OWASP "CSV
 * Injection"), so it is shown as text.
 */
export function csvCell(value: string): string {
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return `"${text.replace(/"/g, '""')}"`;
}

/** The report as CSV: a header line, one line per user, CRLF line ends. */
export function reportCsv(rows: readonly MemberReport[]): string {
  const header = ['Name', 'Email', 'Role', 'Two-factor authentication', 'Methods', 'Recovery codes left', 'Asks at every sign-in', 'Locked'];
  const lines = rows.map((row) => [
    row.name,
    row.email,
    row.role,
    row.hasTwoFactor ? 'Yes' : 'No',
    row.methods.join('; '),
    row.recoveryLeft === undefined ? '' : String(row.recoveryLeft),
    asksText(row.asks),
    lockText(row.lock),
  ]);
  return [header, ...lines].map((cells) => cells.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

/** Registers the company admin routes on the console's router (prefix `/account`). */
export function companyAdminRoutes(router: Router, kit: ConsoleKit, deps: CompanyAdminDeps): void {
  const { conn, factors, logger } = deps;
  const resetPath = (memberId: string): string => `${COMPANY_PATH}/members/${memberId}/reset`;

  /** The admin's own company; anyone else is refused (403). */
  async function adminCompany(signed: Signed): Promise<Company> {
    const { account } = signed;
    if (account.companyRole !== 'admin' || !account.companyId) throw notAdmin();
    const company = await findCompanyById(conn, account.companyId);
    if (!company) throw notAdmin();
    return company;
  }

  /** The member of the URL, only when it belongs to `company` (unknown and foreign ids alike: 404). */
  async function memberOf(ctx: Context, company: Company): Promise<Account> {
    const id = (ctx.params as { memberId?: string }).memberId ?? '';
    const member = MEMBER_ID.test(id) ? await findAccountById(conn, id) : null;
    if (!member || member.companyId !== company.id) throw unknownMember();
    return member;
  }

  function actionContext(ctx: Context, admin: Account): ActionContext {
    const { ip, userAgent } = kit.auditContext(ctx);
    return { actor: { type: 'admin', id: admin.id }, ip, userAgent };
  }

  /** Audits a notice not sent to `member` (on the member's account, the admin as actor); never throws. */
  async function recordSkippedNotice(company: Company, admin: Account, member: Account, state: MfaPolicy, reason: string): Promise<void> {
    try {
      await recordEvent(conn, {
        accountId: member.id,
        actor: { type: 'admin', id: admin.id },
        event: 'company_policy_notice_skipped',
        details: { companyId: company.id, company: company.name, state, reason },
      });
    } catch (err) {
      logger.error({ err, accountId: member.id, companyId: company.id }, 'audit record of a skipped policy notice could not be written');
    }
  }

  /**
   * Tells every other active member that the company now requires two-factor authentication (the `forced` policy:
   * they are asked to set it up at their next sign-in), each through `notifySecurityEvent` so their own security
   * events list it — but a member already told of the forced policy within a day is not mailed again
   * ({@link claimPolicyNotice}), the notice is audited as skipped instead. Best effort: the policy is already saved,
   * a failed mail is recorded there, nothing here throws. The admin's IP and device are left out: they are the
   * admin's, not a fact about the member's account.
   */
  async function noticeForcedPolicy(notify: NotifyDeps, company: Company, admin: Account): Promise<void> {
    try {
      const members = (await listAccounts(conn, { companyId: company.id }))
        .filter((member) => member.id !== admin.id && member.status === 'active');
      let next = 0;
      let mailed = 0;
      let skipped = 0;
      const worker = async (): Promise<void> => {
        for (let member = members[next++]; member; member = members[next++]) {
          const claim = await claimPolicyNotice(conn, { companyId: company.id, accountId: member.id, state: 'forced' }, new Date(Date.now()))
            .catch((err: unknown) => {
              // without the claim a mail could be a repeat: none is sent
              logger.error({ err, accountId: member.id, companyId: company.id }, 'policy notice could not be claimed');
              return undefined;
            });
          if (!claim) continue;
          if (!claim.claimed) {
            skipped += 1;
            await recordSkippedNotice(company, admin, member, 'forced', 'already_notified');
            continue;
          }
          const enrolled = await factors.hasPrimaryFactor(member.id).catch(() => false);
          const result = await notifySecurityEvent({ ...notify, logger: notify.logger ?? logger }, {
            account: { id: member.id, email: member.email, name: member.name },
            kind: 'company_policy_forced',
            details: { company: company.name, enrolled },
            actor: { type: 'admin', id: admin.id },
            auditDetails: { companyId: company.id },
          });
          if (result.mailed) {
            mailed += 1;
          } else {
            await claim.release()
              .catch((err: unknown) => logger.error({ err, accountId: member.id, companyId: company.id }, 'policy notice could not be released'));
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(POLICY_NOTICE_CONCURRENCY, members.length) }, worker));
      logger.info(
        { event: 'account.company_policy_noticed', companyId: company.id, members: members.length, mailed, skipped },
        'members told of the forced policy',
      );
    } catch (err) {
      logger.error({ err, accountId: admin.id, companyId: company.id }, 'members could not be told of the forced policy');
    }
  }

  async function reportOf(company: Company, admin: Account): Promise<MemberReport[]> {
    const members = await listAccounts(conn, { companyId: company.id });
    const backup = factors.backup[0];
    return Promise.all(members.map(async (member): Promise<MemberReport> => {
      const [active, asksUser, lock] = await Promise.all([
        activeFactors(factors, member.id),
        signInMfaEnabled(conn, member.id),
        readLockState(conn, member.id),
      ]);
      const primaries = active.filter((factor) => factors.primary.includes(factor));
      const hasBackup = backup !== undefined && active.includes(backup);
      const recoveryLeft = hasBackup ? await backup.remaining?.(member.id) : undefined;
      return {
        id: member.id,
        name: member.name,
        email: member.email,
        role: member.companyRole === 'admin' ? 'Admin' : 'Member',
        self: member.id === admin.id,
        active: member.status === 'active',
        methods: primaries.map((factor) => factor.label),
        recoveryLeft,
        hasTwoFactor: primaries.length > 0,
        resettable: active.length > 0,
        asks: company.mfaPolicy === 'forced' ? 'company' : asksUser ? 'user' : 'no',
        lock,
      };
    }));
  }

  // ── the company page: policy and the users' 2FA report ───────────────────────────────────────────────────────────

  router.get('/company', async function showCompany(ctx) {
    const signed = await kit.requireSignIn(ctx, COMPANY_PATH);
    if (!signed) return;
    const company = await adminCompany(signed);
    const rows = await reportOf(company, signed.account);
    const pending = kit.pendingFor(signed, COMPANY_PATH);
    const done = typeof ctx.query.done === 'string' && ctx.query.done in COMPANY_NOTICES ? ctx.query.done as CompanyNoticeId : undefined;
    const chosen = pending?.policy !== undefined && isMfaPolicy(pending.policy) ? pending.policy : company.mfaPolicy;
    kit.render(ctx, 'company', {
      title: `${company.name}: two-factor authentication`,
      csrf: kit.csrf.tokenFor(signed.session.id),
      company: { name: company.name, policy: company.mfaPolicy, policyText: POLICY_TEXT[company.mfaPolicy] },
      policies: (Object.keys(POLICY_TEXT) as MfaPolicy[]).map((id) => ({ id, ...POLICY_TEXT[id], checked: id === chosen })),
      notice: done ? COMPANY_NOTICES[done] : undefined,
      noticeId: done,
      pending: pending !== undefined,
      rows: rows.map((row) => ({ ...row, asksText: asksText(row.asks), lockText: lockText(row.lock) })),
      summary: { withTwoFactor: rows.filter((row) => row.hasTwoFactor).length, total: rows.length },
    });
  });

  router.post('/company/policy', requireForm(), kit.parseForm, async function changePolicy(ctx) {
    const signed = await kit.postContext(ctx);
    const company = await adminCompany(signed);
    const policy = field(ctx, 'policy');
    if (!isMfaPolicy(policy)) throw consoleError('invalid_policy', 'Choose a two-factor policy: forced or opt-in.', 400);
    if (!await kit.ensureFresh(ctx, signed, COMPANY_PATH, { policy })) return;
    await kit.clearPending(signed);
    if (company.mfaPolicy === policy) return kit.seeOther(ctx, `${COMPANY_PATH}?done=policy_unchanged`);
    await setCompanyPolicy(conn, company.id, policy);
    logger.info({ event: 'account.company_policy_changed', accountId: signed.account.id, companyId: company.id, policy }, 'company policy changed');
    try {
      await recordEvent(conn, {
        accountId: signed.account.id,
        actor: { type: 'admin', id: signed.account.id },
        event: 'company_policy_changed',
        details: { companyId: company.id, company: company.name, from: company.mfaPolicy, to: policy },
        ...kit.auditContext(ctx),
      });
    } catch (err) {
      logger.error({ err, accountId: signed.account.id, companyId: company.id }, 'audit record of a policy change could not be written');
    }
    if (policy === 'forced' && deps.notify) await noticeForcedPolicy(deps.notify, company, signed.account);
    kit.seeOther(ctx, `${COMPANY_PATH}?done=policy_changed`);
  });

  router.get('/company/report.csv', async function downloadReport(ctx) {
    const signed = await kit.requireSignIn(ctx, `${COMPANY_PATH}/report.csv`);
    if (!signed) return;
    const company = await adminCompany(signed);
    const rows = await reportOf(company, signed.account);
    const day = new Date(Date.now()).toISOString().slice(0, 10);
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Disposition', `attachment; filename="two-factor-report-${day}.csv"`);
    ctx.type = 'text/csv; charset=utf-8';
    // A UTF-8 byte order mark: spreadsheet programs otherwise read accented names in a legacy code page.
    ctx.body = `\ufeff${reportCsv(rows)}`;
  });

  // ── per member: reset (a member who changed phones), unlock ──────────────────────────────────────────────────────

  router.get('/company/members/:memberId/reset', async function showReset(ctx) {
    const id = (ctx.params as { memberId?: string }).memberId ?? '';
    if (!MEMBER_ID.test(id)) throw unknownMember();
    const signed = await kit.requireSignIn(ctx, resetPath(id));
    if (!signed) return;
    const company = await adminCompany(signed);
    const member = await memberOf(ctx, company);
    if (member.id === signed.account.id) throw ownAccount();
    const active = await activeFactors(factors, member.id);
    kit.render(ctx, 'company_reset', {
      title: `Reset two-factor authentication of ${member.name}`,
      csrf: kit.csrf.tokenFor(signed.session.id),
      member: { name: member.name, email: member.email },
      methods: active.map((factor) => factor.label),
      forced: company.mfaPolicy === 'forced',
      action: resetPath(member.id),
      pending: kit.pendingFor(signed, resetPath(member.id)) !== undefined,
    });
  });

  router.post('/company/members/:memberId/reset', requireForm(), kit.parseForm, async function resetMember(ctx) {
    const signed = await kit.postContext(ctx);
    const company = await adminCompany(signed);
    const member = await memberOf(ctx, company);
    if (member.id === signed.account.id) throw ownAccount();
    if (!await kit.ensureFresh(ctx, signed, resetPath(member.id))) return;
    await kit.clearPending(signed);
    const result = await resetFactors(
      { conn, factors, notify: deps.notify, logger },
      { id: member.id, email: member.email, name: member.name },
      'admin',
      actionContext(ctx, signed.account),
    );
    logger.info(
      { event: 'account.member_factors_reset', accountId: signed.account.id, memberId: member.id, removed: result.removed, unlocked: result.unlocked },
      'company admin reset a user\'s factors',
    );
    kit.seeOther(ctx, `${COMPANY_PATH}?done=${result.removed.length > 0 || result.unlocked ? 'factors_reset' : 'nothing_to_reset'}`);
  });

  router.post('/company/members/:memberId/unlock', requireForm(), kit.parseForm, async function unlockMember(ctx) {
    const signed = await kit.postContext(ctx);
    const company = await adminCompany(signed);
    const member = await memberOf(ctx, company);
    if (member.id === signed.account.id) throw ownAccount();
    if (!await kit.ensureFresh(ctx, signed, COMPANY_PATH, { unlock: member.id })) return;
    await kit.clearPending(signed);
    const result = await unlockSecondFactor({ conn, logger }, { id: member.id, email: member.email, name: member.name }, actionContext(ctx, signed.account));
    logger.info({ event: 'account.member_unlocked', accountId: signed.account.id, memberId: member.id, unlocked: result.unlocked }, 'company admin unlock');
    kit.seeOther(ctx, `${COMPANY_PATH}?done=${result.unlocked ? 'unlocked' : 'not_locked'}`);
  });
}
