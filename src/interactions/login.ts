import type { Context } from 'koa';
import { z } from 'zod';
import { verifyLogin } from '../accounts/accounts.ts';
import { passwordLoginAuthentication } from '../provider/acr.ts';
import {
  clientNameOf,
  finishInteraction,
  formBody,
  loadInteraction,
  renderInteractionPage,
  type InteractionDeps,
  type InteractionDetails,
} from './context.ts';

/** Stable message ids of the login page and what the user reads. */
export const LOGIN_MESSAGES = {
  /** The same for an unknown email, a wrong password and a disabled account: no account enumeration. */
  invalid_credentials: 'Email or password is incorrect.',
  missing_fields: 'Enter your email address and your password.',
  invalid_form: 'The form was not filled in correctly. Enter your email address and your password.',
} as const;
export type LoginMessageId = keyof typeof LOGIN_MESSAGES;

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
  form: { email?: string; remember?: boolean; message?: LoginMessageId },
  status = 200,
): Promise<void> {
  const loginHint = typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint.slice(0, EMAIL_MAX) : '';
  renderInteractionPage(ctx, deps, interaction, 'login', {
    title: 'Sign in',
    clientName: await clientNameOf(deps.provider, interaction),
    csrf: deps.csrf.tokenFor(interaction.uid),
    email: form.email ?? loginHint,
    remember: form.remember === true,
    error: form.message ? LOGIN_MESSAGES[form.message] : undefined,
  }, status);
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

  const account = await verifyLogin(deps.conn, email, password);
  if (!account) {
    deps.logger.info({ event: 'login.failed', interaction: interaction.uid }, 'password login failed');
    await renderLogin(ctx, deps, interaction, { email, remember, message: 'invalid_credentials' }, 401);
    return;
  }

  deps.logger.info({ event: 'login.succeeded', accountId: account.id, interaction: interaction.uid }, 'password login');
  await finishInteraction(ctx, deps.provider, {
    login: { accountId: account.id, ...passwordLoginAuthentication(), remember },
  }, { mergeWithLastSubmission: false });
}
