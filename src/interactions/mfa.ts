/**
 * The second-factor steps of the `login` prompt (DESIGN.md §4, issue 4): what every step shares (the pending step-up,
 * the decision, finishing the login, notifications) and the challenge page. Enrolment inside the login lives in
 * `enrol.ts`, the GET dispatcher in `step_up.ts`.
 *
 * Whose step-up it is:
 * - a fresh browser: the password step verified the account and, as the policy demands a second factor, stored a
 *   {@link PendingStepUp} in the interaction's result (no login yet), so password + code make **one** interaction;
 * - a signed-in customer: the session's account, when the only reason to prompt is `mfa_required`; the page shows
 *   the code step only, and the password form is refused (a step-up never switches account).
 * The finished login keeps the session's transient-ness (`remember`), records the second factor's level and time
 * (`stepUp`, persisted per session in `loadExistingGrant`) and derives `acr`/`amr` from the completed methods.
 */
import type { Context } from 'koa';
import { z } from 'zod';
import { findAccountById, type Account } from '../accounts/accounts.ts';
import type { Factor, FactorFailure, VerifyResult } from '../factors/contract.ts';
import { createMethodChoice, type MethodChoice } from '../factors/method_choice.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { ACR, PASSWORD_METHOD, acrFromFactors, amrFor, levelOf, type CompletedMethod } from '../policy/acr.ts';
import type { StepUpDecision } from '../policy/step_up.ts';
import { evaluateStepUp, requestFromParams } from '../policy/step_up_inputs.ts';
import { MFA_REQUIRED_REASON } from '../provider/step_up_policy.ts';
import { notifySecurityEvent, type NotifyInput } from '../mail/notify.ts';
import type { NotificationKind } from '../mail/templates.ts';
import { maskEmail } from '../shared/mask_email.ts';
import {
  clientNameOf, finishInteraction, formBody, loadInteraction, renderInteractionPage, type InteractionDeps, type InteractionDetails,
} from './context.ts';

/** What the interaction remembers between the password step and the second factor. */
export interface PendingStepUp {
  readonly accountId: string;
  readonly remember: boolean;
  /** `amr` of the first factor already done (password). */
  readonly amr: readonly string[];
  /** Whether the password was proven in this interaction (a fresh browser or a re-login), not by the session. */
  readonly passwordHere: boolean;
  /** Set once enrolment confirmed a new factor in this interaction: the recovery codes page comes next. */
  readonly enrolled?: { readonly level: number; readonly amr: readonly string[] };
  /** The enrolment in progress in this interaction (see `enrol.ts`). */
  readonly enrolment?: EnrolmentState;
}

/** What the enrolment inside the login remembers between its pages (stored server-side, in the interaction). */
export interface EnrolmentState {
  /** The factor the customer chose to set up. */
  readonly factorId: string;
  /** The password was re-confirmed in this interaction (a signed-in session, before a code is mailed). */
  readonly passwordConfirmed?: boolean;
  /** A code was sent for this enrolment: the code form is shown. */
  readonly codeSent?: boolean;
}

/** Stable message ids of the second-factor pages. */
export const MFA_MESSAGES = {
  invalid_code: 'Invalid authentication code — try again with a new code.',
  code_replayed: 'This code was already used. Wait for the next code in your app and enter it.',
  locked: 'Too many wrong codes. Try again in {minutes}.',
  locked_permanent: 'Your second factor is locked after too many wrong codes. Use a recovery code, or contact customer support.',
  expired: 'This code has expired. Request a new code.',
  too_many_tries: 'This code was entered wrongly too often. Request a new code.',
  too_many_codes: 'Too many codes were sent. Try again in {minutes}, or use another method.',
  resend_too_soon: 'A code was sent a moment ago. Wait {seconds} seconds before asking for a new one.',
  mail_failed: 'We could not send the email. Try again, or use another method.',
  not_enrolled: 'This method is not set up for your account. Choose another method.',
  already_enrolled: 'A second factor is already set up for this account.',
  invalid_form: 'The form was not filled in correctly. Enter the code again.',
} as const;
export type MfaMessageId = keyof typeof MFA_MESSAGES;

export const STATUS: Partial<Record<MfaMessageId, number>> = { locked: 429, locked_permanent: 429, too_many_codes: 429, resend_too_soon: 429 };

function minutesText(ms: number): string {
  const minutes = Math.max(1, Math.ceil(ms / 60_000));
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}

/** The page message for a factor failure. */
export function failureMessage(failure: FactorFailure): { id: MfaMessageId; text: string } {
  if (failure.code === 'locked' || failure.lock) {
    const lock = failure.code === 'locked' ? failure : failure.lock;
    if (lock?.permanent || !lock?.until) return { id: 'locked_permanent', text: MFA_MESSAGES.locked_permanent };
    return { id: 'locked', text: MFA_MESSAGES.locked.replace('{minutes}', minutesText(lock.until.getTime() - Date.now())) };
  }
  const id = failure.code as MfaMessageId;
  const retry = failure.retryAfterSeconds ?? 60;
  const text = (MFA_MESSAGES[id] ?? MFA_MESSAGES.invalid_code)
    .replace('{minutes}', minutesText(retry * 1000))
    .replace('{seconds}', String(retry));
  return { id, text };
}

/** Reasons that ask for the password again; with any of them the password form comes first. */
const PASSWORD_REASONS = new Set(['no_session', 'login_prompt', 'max_age', 'id_token_hint', 'claims_id_token_sub_value']);

async function sessionTransient(deps: InteractionDeps, interaction: InteractionDetails): Promise<boolean> {
  const uid = interaction.session?.uid;
  if (!uid) return false;
  const session = await deps.provider.Session.findByUid(uid);
  return session?.transient === true;
}

/** The step-up in progress for this interaction, or undefined when the password form comes first. */
export async function pendingStepUpOf(deps: InteractionDeps, interaction: InteractionDetails): Promise<PendingStepUp | undefined> {
  if (interaction.prompt.name !== 'login') return undefined;
  const stored = (interaction.result as { stepUpPending?: PendingStepUp } | undefined)?.stepUpPending;
  if (stored && typeof stored.accountId === 'string') return stored;
  const session = interaction.session;
  const reasons = interaction.prompt.reasons;
  if (!session?.accountId || !reasons.includes(MFA_REQUIRED_REASON) || reasons.some((reason) => PASSWORD_REASONS.has(reason))) {
    return undefined;
  }
  return {
    accountId: session.accountId,
    remember: !(await sessionTransient(deps, interaction)),
    amr: Array.isArray(session.amr) && session.amr.length > 0 ? session.amr : [...PASSWORD_METHOD.amr],
    passwordHere: false,
  };
}

/** The decision for the pending step-up (the password is proven, whatever the session said). */
export async function decide(deps: InteractionDeps, interaction: InteractionDetails, pending: PendingStepUp): Promise<StepUpDecision> {
  const client = await deps.provider.Client.find(String(interaction.params.client_id ?? ''));
  const defaults = (client?.defaultAcrValues ?? []) as readonly string[];
  const sessionAcr = pending.passwordHere ? ACR.pwd : (interaction.session?.acr ?? ACR.pwd);
  return evaluateStepUp({ conn: deps.conn, factors: deps.factors }, {
    accountId: pending.accountId,
    sessionUid: interaction.session?.uid,
    sessionAcr,
    ...requestFromParams(interaction.params, defaults),
  });
}

/** Stores the pending step-up in the interaction (not a login: resuming with it asks for the login again). */
export async function savePending(ctx: Context, deps: InteractionDeps, pending: PendingStepUp): Promise<void> {
  await deps.provider.interactionResult(ctx.req, ctx.res, { stepUpPending: pending }, { mergeWithLastSubmission: false });
}

export function redirectToStep(ctx: Context, uid: string): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.redirect(`/interaction/${uid}`);
  ctx.status = 303;
}

export async function finishUnmet(ctx: Context, deps: InteractionDeps): Promise<void> {
  await finishInteraction(ctx, deps.provider, {
    error: 'unmet_authentication_requirements',
    error_description: 'the required authentication level cannot be met for this account',
  }, { mergeWithLastSubmission: false });
}

/** Finishes the login with the completed methods (password + `second`, when given). */
export async function finishLogin(
  ctx: Context, deps: InteractionDeps, pending: PendingStepUp, second: CompletedMethod | undefined,
): Promise<void> {
  const first: CompletedMethod = { level: PASSWORD_METHOD.level, amr: pending.amr };
  const methods = second ? [first, second] : [first];
  const at = Math.floor(Date.now() / 1000);
  await finishInteraction(ctx, deps.provider, {
    login: {
      accountId: pending.accountId,
      acr: acrFromFactors(methods) ?? ACR.pwd,
      amr: amrFor(methods),
      ts: at,
      // Keeps a "don't remember me" session transient: oidc-provider defaults `remember` to true.
      remember: pending.remember,
      ...(second ? { stepUp: { level: levelOf(acrFromFactors(methods)) ?? second.level, at } } : {}),
    },
  }, { mergeWithLastSubmission: false });
}

/** Audit + email of a security event (ASVS 2.5.5); best effort, never blocks the sign-in. */
export async function notify<K extends NotificationKind>(
  ctx: Context, deps: InteractionDeps, interaction: InteractionDetails, accountId: string,
  input: Omit<NotifyInput<K>, 'account' | 'ip' | 'userAgent' | 'clientId'>,
): Promise<void> {
  if (!deps.notify) return;
  const account = await findAccountById(deps.conn, accountId);
  if (!account) return;
  await notifySecurityEvent(deps.notify, {
    ...input,
    account: { id: account.id, email: account.email, name: account.name },
    ip: ctx.ip,
    userAgent: ctx.get('user-agent') || undefined,
    clientId: String(interaction.params.client_id ?? '') || undefined,
  } as NotifyInput<K>);
}

/** Notifies a lockout that this very failure started. */
export async function notifyLockout(ctx: Context, deps: InteractionDeps, interaction: InteractionDetails, accountId: string, failure: FactorFailure): Promise<void> {
  if (failure.code === 'locked' || !failure.lock) return;
  deps.logger.warn({ event: 'mfa.locked', accountId, permanent: failure.lock.permanent }, 'second factor locked');
  await notify(ctx, deps, interaction, accountId, { kind: 'account_locked', details: { until: failure.lock.until, failures: failure.lock.failures } });
}

export interface ChallengeForm {
  message?: { id: MfaMessageId; text: string };
  method?: string;
  sentTo?: string;
  status?: number;
}

export async function loadAccountOrFail(deps: InteractionDeps, accountId: string): Promise<Account> {
  const account = await findAccountById(deps.conn, accountId);
  if (!account || account.status !== 'active') throw new Error('the account of the step-up is gone');
  return account;
}

const methodChoices = new WeakMap<FactorRegistry, MethodChoice>();

/** The deps' method choice, else one created once per registry (over `deps.conn`) and reused by every request. */
export function methodChoiceOf(deps: Pick<InteractionDeps, 'conn' | 'factors' | 'methodChoice'>): MethodChoice | undefined {
  if (deps.methodChoice) return deps.methodChoice;
  if (!deps.factors) return undefined;
  let choice = methodChoices.get(deps.factors);
  if (!choice) {
    choice = createMethodChoice({ conn: deps.conn, registry: deps.factors });
    methodChoices.set(deps.factors, choice);
  }
  return choice;
}

/**
 * The methods the page may offer at `level` (issue 5 "Method choice"): it opens on `chosen` when usable, else on the
 * customer's primary method (the stored choice, or the first enrolled); the others are the usable alternatives — a
 * level-3 request never lists a level-2 method (email codes); recovery codes are always there as a backup.
 */
async function methodsFor(deps: InteractionDeps, accountId: string, level: number, chosen?: string): Promise<{ current?: Factor; others: Factor[] }> {
  const choice = methodChoiceOf(deps);
  if (!choice) return { others: [] };
  const { primary, alternatives } = await choice.methodOptions(accountId, level);
  const usable = primary ? [primary, ...alternatives] : [...alternatives];
  const current = usable.find((factor) => factor.id === chosen) ?? primary;
  return { ...(current ? { current } : {}), others: usable.filter((factor) => factor !== current) };
}

export async function renderChallenge(
  ctx: Context, deps: InteractionDeps, interaction: InteractionDetails, pending: PendingStepUp, level: number, form: ChallengeForm,
): Promise<void> {
  const { current, others } = await methodsFor(deps, pending.accountId, level, form.method);
  if (!current) {
    await finishUnmet(ctx, deps);
    return;
  }
  const account = await loadAccountOrFail(deps, pending.accountId);
  renderInteractionPage(ctx, deps, interaction, 'mfa_challenge', {
    title: 'Two-factor authentication',
    clientName: await clientNameOf(deps.provider, interaction),
    csrf: deps.csrf.tokenFor(interaction.uid),
    method: { id: current.id, label: current.label, role: current.role, sends: current.challenge !== undefined },
    otherMethods: others.filter((factor) => factor.role === 'primary').map((factor) => ({ id: factor.id, label: factor.label })),
    backupMethods: others.filter((factor) => factor.role === 'backup').map((factor) => ({ id: factor.id, label: factor.label })),
    maskedEmail: current.challenge ? maskEmail(account.email) : undefined,
    sentTo: form.sentTo,
    error: form.message?.text,
    errorId: form.message?.id,
  }, form.status ?? 200);
}

export const codeForm = z.object({
  code: z.string().max(64).optional(),
  method: z.string().max(64).optional(),
});

/** The pending step-up of a POST, or a redirect to the current step (a double submit, a stale page). */
export async function postContext(ctx: Context, deps: InteractionDeps): Promise<{ interaction: InteractionDetails; pending: PendingStepUp; level: number; enrol: boolean } | undefined> {
  const interaction = await loadInteraction(ctx, deps.provider);
  deps.csrf.verify(interaction.uid, formBody(ctx).csrf);
  const pending = await pendingStepUpOf(deps, interaction);
  if (!pending || pending.enrolled) {
    redirectToStep(ctx, interaction.uid);
    return undefined;
  }
  const decision = await decide(deps, interaction, pending);
  if (!('required' in decision) || !decision.required) {
    redirectToStep(ctx, interaction.uid);
    return undefined;
  }
  return { interaction, pending, level: decision.level, enrol: decision.enrol };
}

/** POST /interaction/:uid/mfa — the code of the chosen method. */
export async function submitChallenge(ctx: Context, deps: InteractionDeps): Promise<void> {
  const step = await postContext(ctx, deps);
  if (!step) return;
  const { interaction, pending, level } = step;
  const parsed = codeForm.safeParse(formBody(ctx));
  if (!parsed.success) {
    await renderChallenge(ctx, deps, interaction, pending, level, { message: { id: 'invalid_form', text: MFA_MESSAGES.invalid_form }, status: 400 });
    return;
  }
  const { current } = await methodsFor(deps, pending.accountId, level, parsed.data.method);
  if (!current || (parsed.data.method !== undefined && current.id !== parsed.data.method)) {
    await renderChallenge(ctx, deps, interaction, pending, level, { message: { id: 'not_enrolled', text: MFA_MESSAGES.not_enrolled }, status: 400 });
    return;
  }
  const result: VerifyResult = await current.verify(pending.accountId, parsed.data.code ?? '');
  if (!result.ok) {
    const message = failureMessage(result);
    deps.logger.info({ event: 'mfa.failed', accountId: pending.accountId, factor: current.id, code: result.code }, 'second factor failed');
    await notifyLockout(ctx, deps, interaction, pending.accountId, result);
    await renderChallenge(ctx, deps, interaction, pending, level, { message, method: current.id, status: STATUS[message.id] ?? 400 });
    return;
  }
  deps.logger.info({ event: 'mfa.succeeded', accountId: pending.accountId, factor: current.id }, 'second factor verified');
  if (current.role === 'backup') {
    await notify(ctx, deps, interaction, pending.accountId, { kind: 'recovery_code_used', details: { remaining: result.remaining ?? 0 } });
  }
  await finishLogin(ctx, deps, pending, { level: result.level, amr: result.amr });
}

/** POST /interaction/:uid/mfa/send — sends a code for a method that delivers one (email). */
export async function submitSend(ctx: Context, deps: InteractionDeps): Promise<void> {
  const step = await postContext(ctx, deps);
  if (!step) return;
  const { interaction, pending, level } = step;
  const parsed = codeForm.safeParse(formBody(ctx));
  const { current } = await methodsFor(deps, pending.accountId, level, parsed.success ? parsed.data.method : undefined);
  if (!current?.challenge) {
    await renderChallenge(ctx, deps, interaction, pending, level, { message: { id: 'not_enrolled', text: MFA_MESSAGES.not_enrolled }, status: 400 });
    return;
  }
  const account = await loadAccountOrFail(deps, pending.accountId);
  const sent = await current.challenge.send({ id: account.id, email: account.email, name: account.name });
  if (!sent.ok) {
    const message = failureMessage(sent);
    await renderChallenge(ctx, deps, interaction, pending, level, { message, method: current.id, status: STATUS[message.id] ?? 400 });
    return;
  }
  await renderChallenge(ctx, deps, interaction, pending, level, { method: current.id, ...(sent.sentTo ? { sentTo: sent.sentTo } : {}) });
}
