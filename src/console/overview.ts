/** The security settings overview (`GET /account`): methods, primary method, sign-in switch, recovery codes, events. */
import type Router from '@koa/router';
import { signInMfaEnabled } from '../accounts/accounts.ts';
import { listEvents } from '../audit/audit_log.ts';
import { LEVEL } from '../policy/acr.ts';
import { replaceable } from './add_method.ts';
import { ACCOUNT_PATH } from './client.ts';
import { describeEvents } from './events.ts';
import type { ConsoleKit } from './kit.ts';

const RECENT_EVENTS = 10;

/** Stable ids of the confirmations shown on the overview after a change (`?done=`). */
export const ACCOUNT_NOTICES = {
  factor_added: 'The sign-in method was added.',
  factor_removed: 'The sign-in method was removed.',
  factor_removed_invoice: 'The sign-in method was removed. Paying by invoice will ask you to set up two-factor authentication again.',
  primary_changed: 'Your primary method was saved.',
  sign_in_mfa_enabled: 'From now on every sign-in asks for a code.',
  sign_in_mfa_disabled: 'Sign-in no longer asks for a code (shops may still ask for one, e.g. to pay by invoice).',
  already_enrolled: 'This method is already set up.',
  not_enrolled: 'This method is not set up: add it instead.',
  factor_replaced: "Your authenticator app was replaced: only the new phone's codes work now.",
  reauth_cancelled: 'The confirmation was cancelled; nothing was changed.',
  password_changed: 'Your password was changed. Your other devices were signed out and need the new password.',
} as const;
type NoticeId = keyof typeof ACCOUNT_NOTICES;

export function overviewRoutes(router: Router, kit: ConsoleKit): void {
  const { conn, factors } = kit.deps;

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
        enrolled,
        since: since ? since.toISOString().slice(0, 10) : undefined,
        sinceIso: since?.toISOString(),
        canAdd: !enrolled && factor.enrol?.confirm !== undefined,
        canReplace: enrolled && replaceable(factor),
      };
    }));
    const backup = kit.backupFactor();
    const remaining = await backup?.remaining?.(account.id);
    const pending = kit.pendingFor(signed, ACCOUNT_PATH);
    const done = typeof ctx.query.done === 'string' && ctx.query.done in ACCOUNT_NOTICES ? ctx.query.done as NoticeId : undefined;
    kit.render(ctx, 'overview', {
      title: 'Security settings',
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
      recovery: backup && primaries.length > 0 ? { label: backup.label, remaining: remaining ?? 0 } : undefined,
      events: describeEvents(events),
    });
  });
}
