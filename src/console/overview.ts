/** The security settings overview (`GET /account`): methods, primary method, sign-in switch, recovery codes, events. */
import type Router from '@koa/router';
import { signInMfaEnabled, type Account } from '../accounts/accounts.ts';
import { listEvents } from '../audit/audit_log.ts';
import { LEVEL } from '../policy/acr.ts';
import { replaceable } from './add_method.ts';
import { ACCOUNT_PATH } from './client.ts';
import { describeEvents } from './events.ts';
import type { ConsoleKit } from './kit.ts';
import { LANGUAGE_SETTINGS_PATH } from './language_settings.ts';

const RECENT_EVENTS = 10;
/** How many codes a new set of recovery codes holds ("7 of 10 codes left"). */
const RECOVERY_CODES = 10;

/** Stable ids of the confirmations shown on the overview after a change (`?done=`), and their messages. */
export const ACCOUNT_NOTICES = {
  factor_added: 'console.notice.factor_added',
  factor_removed: 'console.notice.factor_removed',
  factor_removed_invoice: 'console.notice.factor_removed_invoice',
  primary_changed: 'console.notice.primary_changed',
  sign_in_mfa_enabled: 'console.notice.sign_in_mfa_enabled',
  sign_in_mfa_disabled: 'console.notice.sign_in_mfa_disabled',
  already_enrolled: 'console.notice.already_enrolled',
  not_enrolled: 'console.notice.not_enrolled',
  factor_replaced: 'console.notice.factor_replaced',
  reauth_cancelled: 'console.notice.reauth_cancelled',
  password_changed: 'console.notice.password_changed',
  language_saved: 'console.notice.language_saved',
} as const;
type NoticeId = keyof typeof ACCOUNT_NOTICES;

/** The stored language and time zone; without them the pages follow the browser, and times are written in UTC. */
function languageSettingOf(kit: ConsoleKit, account: Account): { href: string; code?: string; name?: string; timeZone?: string } {
  const { languages } = kit.deps.views;
  const code = account.language && languages.supported.includes(account.language) ? account.language : undefined;
  return {
    href: LANGUAGE_SETTINGS_PATH,
    ...(code ? { code, name: languages.nameOf(code) } : {}),
    ...(account.timeZone ? { timeZone: account.timeZone } : {}),
  };
}

export function overviewRoutes(router: Router, kit: ConsoleKit): void {
  const { conn, factors, views } = kit.deps;
  const messageIds = new Set(views.languages.messageIds);
  const knows = (id: string): boolean => messageIds.has(id);

  router.get('/', async function showOverview(ctx) {
    const signed = await kit.requireSignIn(ctx, ACCOUNT_PATH);
    if (!signed) return;
    const { account, session } = signed;
    const [primaries, current, askEverySignIn, forced, events] = await Promise.all([
      kit.enrolledPrimaries(account.id),
      kit.methodChoice.primaryFactor(account.id, LEVEL.mfa),
      signInMfaEnabled(conn, account.id),
      kit.companyForces(account),
      listEvents(conn, account.id, { limit: RECENT_EVENTS }),
    ]);
    const methods = await Promise.all(factors.primary.map(async (factor) => {
      const enrolled = primaries.includes(factor);
      const since = enrolled && factor.enrolledAt ? await factor.enrolledAt(account.id) : undefined;
      return {
        id: factor.id,
        label: factor.label,
        inSentence: factor.inSentence ?? factor.label,
        enrolled,
        since,
        canAdd: !enrolled && factor.enrol?.confirm !== undefined,
        canReplace: enrolled && replaceable(factor),
      };
    }));
    const backup = kit.backupFactor();
    const remaining = await backup?.remaining?.(account.id);
    const pending = kit.pendingFor(signed, ACCOUNT_PATH);
    const done = typeof ctx.query.done === 'string' && ctx.query.done in ACCOUNT_NOTICES ? ctx.query.done as NoticeId : undefined;
    kit.render(ctx, 'overview', {
      title: 'console.overview.title',
      csrf: kit.csrf.tokenFor(session.id),
      account: { name: account.name, email: account.email },
      companyAdmin: account.companyRole === 'admin' && account.companyId !== null,
      notice: done ? ACCOUNT_NOTICES[done] : undefined,
      noticeId: done,
      pending: pending !== undefined,
      methods,
      primaryChoice: primaries.length > 1
        ? primaries.map((factor) => ({ id: factor.id, label: factor.label, checked: (pending?.factor ?? current?.id) === factor.id }))
        : undefined,
      hasPrimary: primaries.length > 0,
      signInMfa: { enabled: askEverySignIn || forced, forced, offered: primaries.length > 0 || forced },
      recovery: backup && primaries.length > 0 ? { label: backup.label, remaining: remaining ?? 0, total: RECOVERY_CODES } : undefined,
      languageSetting: languageSettingOf(kit, account),
      events: describeEvents(events, knows),
    });
  });
}
