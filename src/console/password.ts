/**
 * "Change password" in the security console (`/account/password`).
 *
 * The console's fresh re-authentication (`ensureFresh`: the password again, plus the second factor when the account
 * holds one) already proves the current password, so the form asks only for the new one, twice. Only the *intent* is
 * parked across the re-authentication round trip — never the new password (it would sit in the session document):
 * the customer types it again after confirming who they are.
 *
 * The new password follows `src/accounts/password_rules.ts`. After the change (one write, `setPassword`) every sign-in
 * made with the old password ends (`endSignIns`: the credentials epoch is raised, the other provider sessions end and
 * every grant with its refresh and access tokens is revoked) — this browser stays signed in — as do the account's
 * other console sessions; the password-login throttle of the email is reset, and the change is audited and mailed
 * (`password_changed`, OWASP ASVS 2.2.3) — without the password.
 *
 * Routes: `GET /password` · `POST /password`.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Connection } from 'mongoose';
import type Provider from 'oidc-provider';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, setPassword } from '../accounts/accounts.ts';
import { newPasswordProblem, type PasswordMessageId } from '../accounts/password_rules.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { msg, type Message } from '../i18n/languages.ts';
import { resetLoginThrottle } from '../accounts/login_throttle.ts';
import { LEVEL } from '../policy/acr.ts';
import { endSignIns } from '../security/end_sign_ins.ts';
import type { Logger } from '../shared/logger.ts';
import { ACCOUNT_PATH } from './client.ts';
import { formBody, requireForm } from '../http/forms.ts';
import type { ConsoleKit, Signed } from './kit.ts';
import { deleteOtherSessions, setSessionEpoch } from './session.ts';

export const PASSWORD_PATH = `${ACCOUNT_PATH}/password`;

export interface PasswordChangeDeps {
  readonly conn: Connection;
  readonly provider: Provider;
  readonly factors: FactorRegistry;
  readonly logger: Logger;
}

function text(ctx: Context, name: string): string {
  const value = formBody(ctx)[name];
  return typeof value === 'string' ? value : '';
}

export function passwordRoutes(router: Router, kit: ConsoleKit, deps: PasswordChangeDeps): void {
  router.get('/password', async function showPasswordForm(ctx) {
    const signed = await kit.requireSignIn(ctx, PASSWORD_PATH);
    if (!signed) return;
    await renderForm(ctx, kit, signed);
  });
  router.post('/password', requireForm(), kit.parseForm, (ctx) => changePassword(ctx, kit, deps));
}

/** What the form says about a refused new password (the rules' limits placed in). */
function passwordError(id: PasswordMessageId): Message {
  return msg(`console.password.error.${id}`, { min: PASSWORD_MIN_LENGTH, max: PASSWORD_MAX_LENGTH });
}

async function renderForm(ctx: Context, kit: ConsoleKit, signed: Signed, options: { error?: PasswordMessageId; status?: number } = {}): Promise<void> {
  const second = await kit.changeLevel(signed.account.id) >= LEVEL.mfa;
  kit.render(ctx, 'password', {
    title: 'console.password.title',
    csrf: kit.csrf.tokenFor(signed.session.id),
    action: PASSWORD_PATH,
    minLength: PASSWORD_MIN_LENGTH,
    maxLength: PASSWORD_MAX_LENGTH,
    fresh: await kit.isFreshNow(signed),
    secondFactor: second,
    pending: !options.error && kit.pendingFor(signed, PASSWORD_PATH) !== undefined,
    error: options.error ? passwordError(options.error) : undefined,
    errorId: options.error,
  }, options.status ?? 200);
}

async function changePassword(ctx: Context, kit: ConsoleKit, deps: PasswordChangeDeps): Promise<void> {
  const { conn, logger } = deps;
  const signed = await kit.postContext(ctx);
  // Parks the intent only (no fields): the new password is typed again after the re-authentication.
  if (!await kit.ensureFresh(ctx, signed, PASSWORD_PATH)) return;
  const { account } = signed;
  const password = text(ctx, 'password');
  const problem = newPasswordProblem(password, text(ctx, 'confirm'), account.email);
  if (problem) {
    logger.info({ event: 'account.password_refused', accountId: account.id, code: problem }, 'new password refused');
    return renderForm(ctx, kit, signed, { error: problem, status: 400 });
  }
  // Only if no other change of credentials (a reset, a disable) came in since this session was proven: else 409.
  const epoch = await setPassword(conn, account.id, password, { expectedEpoch: account.credentialsEpoch });
  const ended = await endOtherSignIns(ctx, deps, signed, epoch);
  await kit.clearPending(signed);
  logger.info({ event: 'account.password_changed', accountId: account.id, ...ended }, 'password changed in the console');
  await kit.record(ctx, { kind: 'password_changed', account, auditDetails: ended });
  kit.seeOther(ctx, `${ACCOUNT_PATH}?done=password_changed`);
}

/** What must not outlive the old password; best effort after the (already written) change, each step logged. */
async function endOtherSignIns(ctx: Context, deps: PasswordChangeDeps, signed: Signed, epoch: number): Promise<Record<string, unknown>> {
  const { conn, provider, logger } = deps;
  const { account } = signed;
  const ended: Record<string, unknown> = {};
  try {
    ended.consoleSessionsEnded = await deleteOtherSessions(conn, account.id, signed.session.id);
  } catch (err) {
    ended.consoleSessionsEnded = 'failed';
    logger.error({ err, accountId: account.id }, 'other console sessions could not be ended after a password change');
  }
  try {
    // This browser's provider session stays: it is the one that just re-authenticated.
    const currentId = ctx.cookies.get(provider.cookieName('session'), { signed: true });
    const current = currentId ? await provider.Session.find(currentId) : undefined;
    const keep = current?.accountId === account.id
      ? { sessionId: current.jti, sessionUid: current.uid, provenEpoch: account.credentialsEpoch }
      : undefined;
    const { providerSessionsEnded, grantsRevoked } = await endSignIns(conn, account.id, { epoch, ...(keep ? { keep } : {}) });
    // This console session stays signed in under the new epoch — unless another change came in meanwhile.
    await setSessionEpoch(conn, signed.session.id, account.credentialsEpoch, epoch);
    Object.assign(ended, { providerSessionsEnded, grantsRevoked });
  } catch (err) {
    ended.providerSessionsEnded = 'failed';
    logger.error({ err, accountId: account.id }, 'sign-ins could not be ended after a password change');
  }
  try {
    await resetLoginThrottle(conn, provider, account.email);
  } catch (err) {
    logger.error({ err, accountId: account.id }, 'the login throttle could not be reset after a password change');
  }
  return ended;
}
