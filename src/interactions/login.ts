import type { Context } from 'koa';
import { z } from 'zod';
import { msg, type Message } from '../i18n/languages.ts';
import { verifyLogin } from '../accounts/accounts.ts';
import { clientNameOf, loadInteraction, renderInteractionPage, type InteractionDeps, type InteractionDetails } from './context.ts';
import { formBody } from '../http/forms.ts';
import { minutesUntil, throttleLogin } from '../accounts/login_throttle.ts';
import type { LockState } from '../factors/contract.ts';
import { knownAccount, provePassword } from '../authentication/request_state.ts';
import { showStepUp } from './step_up.ts';
import { pendingStepUpOf, proofHolderOf } from './step_up_state.ts';

/**
 * Stable message ids of the login page (`login.error.*` in `locales/`). `invalid_credentials` is the same for an
 * unknown email, a wrong password and a disabled account (no account enumeration); `too_many_attempts` the same for
 * every email, registered or not; `too_many_attempts_blocked*` follow 100 consecutive failures (NIST SP 800-63B
 * §5.2.2): only support lifts it, or a password reset where offered.
 */
export type LoginMessageId =
  | 'invalid_credentials' | 'missing_fields' | 'invalid_form' | 'too_many_attempts' | 'too_many_attempts_blocked'
  | 'too_many_attempts_blocked_reset';

/** The message of a login failure; `too_many_attempts` says how long to wait. */
export function loginMessage(id: LoginMessageId, minutes?: number): Message {
  return msg(`login.error.${id}`, { minutes: minutes ?? 1 });
}

const EMAIL_MAX = 320;
const PASSWORD_MAX = 1024;

const loginForm = z.object({
  email: z.string().max(EMAIL_MAX).optional(),
  password: z.string().max(PASSWORD_MAX).optional(),
  remember: z.string().max(16).optional(),
});

async function renderLogin(
  ctx: Context,
  deps: InteractionDeps,
  interaction: InteractionDetails,
  form: { email?: string; remember?: boolean; message?: LoginMessageId; minutes?: number },
  status = 200,
): Promise<void> {
  const loginHint = typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint.slice(0, EMAIL_MAX) : '';
  renderInteractionPage(ctx, deps, interaction, 'login', {
    title: 'login.title',
    clientName: await clientNameOf(ctx, deps.provider, interaction),
    csrf: deps.csrf.tokenFor(interaction.uid),
    email: form.email ?? loginHint,
    remember: form.remember === true,
    error: form.message ? loginMessage(form.message, form.minutes) : undefined,
    blocked: form.message === 'too_many_attempts_blocked' || form.message === 'too_many_attempts_blocked_reset',
    passwordResetUrl: deps.passwordResetPath ? `${deps.passwordResetPath}?interaction=${encodeURIComponent(interaction.uid)}` : undefined,
  }, status);
}

/** 429 with the wait (also as `Retry-After`), identical for a registered and an unknown email. */
async function renderLocked(
  ctx: Context,
  deps: InteractionDeps,
  interaction: InteractionDetails,
  form: { email: string; remember: boolean },
  lock: LockState,
): Promise<void> {
  const minutes = minutesUntil(lock);
  if (minutes === undefined) {
    const message = deps.passwordResetPath ? 'too_many_attempts_blocked_reset' : 'too_many_attempts_blocked';
    await renderLogin(ctx, deps, interaction, { ...form, message }, 429);
    return;
  }
  await renderLogin(ctx, deps, interaction, { ...form, message: 'too_many_attempts', minutes }, 429);
  const seconds = lock.until ? Math.max(1, Math.ceil((lock.until.getTime() - Date.now()) / 1000)) : 60;
  ctx.set('Retry-After', String(seconds));
}

/** GET part: the login form (only when oidc-provider's current prompt is `login`). */
export async function showLogin(ctx: Context, deps: InteractionDeps, interaction: InteractionDetails): Promise<void> {
  await renderLogin(ctx, deps, interaction, {});
}

/**
 * POST /interaction/:uid/login — email + password (+ "keep me signed in"). A correct password finishes the
 * login with the password level (`acr` pwd, `amr` ["pwd"]); `remember` unchecked → a transient session that
 * ends with the browser.
 */
export async function submitLogin(ctx: Context, deps: InteractionDeps): Promise<void> {
  const interaction = await loadInteraction(ctx, deps.provider);
  const body = formBody(ctx);
  deps.csrf.verify(interaction.uid, body.csrf);
  if (interaction.prompt.name !== 'login') {
    // Already past this step (a double submit, a back button): show whatever comes next.
    ctx.redirect(`/interaction/${interaction.uid}`);
    ctx.status = 303;
    return;
  }
  if (pendingStepUpOf(interaction)) {
    // A step-up (or a password already proven here) continues with the second factor, never with another password:
    // a step-up never switches account.
    ctx.redirect(`/interaction/${interaction.uid}`);
    ctx.status = 303;
    return;
  }

  const parsed = loginForm.safeParse(body);
  if (!parsed.success) {
    await renderLogin(ctx, deps, interaction, { message: 'invalid_form' }, 400);
    return;
  }
  const email = parsed.data.email?.trim() ?? '';
  const password = parsed.data.password ?? '';
  const remember = parsed.data.remember !== undefined && parsed.data.remember !== '';
  if (!email || !password) {
    await renderLogin(ctx, deps, interaction, { email, remember, message: 'missing_fields' }, 400);
    return;
  }

  // Reserved before the (19 MiB Argon2id) check, keyed by the email whether or not it is registered.
  const result = await throttleLogin(deps, email, () => verifyLogin(deps.conn, email, password));
  if (!result.ok) {
    if (result.code === 'locked' || result.lock) {
      const lock = result.lock as LockState;
      deps.logger.warn({ event: 'login.locked', interaction: interaction.uid, permanent: lock.permanent }, 'password login locked');
      await renderLocked(ctx, deps, interaction, { email, remember }, lock);
      return;
    }
    deps.logger.info({ event: 'login.failed', interaction: interaction.uid }, 'password login failed');
    await renderLogin(ctx, deps, interaction, { email, remember, message: 'invalid_credentials' }, 401);
    return;
  }
  const account = result.value;

  deps.logger.info({ event: 'login.succeeded', accountId: account.id, interaction: interaction.uid }, 'password login');
  // The proof goes to the browser's session (or, without one yet, to this interaction); the step-up policy decides
  // now that the account is known: a second factor (or its enrolment) in this same interaction, an unmet
  // requirement, or the password alone.
  const sessionUid = interaction.session?.uid;
  knownAccount(deps, ctx.req, account);
  await provePassword(deps, ctx.req, proofHolderOf(interaction), account, { at: new Date(), interaction: interaction.uid }, 'sign_in');
  await showStepUp(ctx, deps, interaction, { accountId: account.id, ...(sessionUid ? { sessionUid } : {}), remember }, { save: true });
}
