/**
 * The second-factor challenge of the `login` prompt: the page (the customer's primary method, the others under "use
 * another method", recovery codes as the backup), sending a code for methods that deliver one, and checking the code.
 * A code that checks out is recorded as a proof in the session's authentication state right here, where it was
 * proven; what comes next (another step, an enrolment, the login) is the decision's.
 */
import type { Context } from 'koa';
import { noteLanguageHints, requestLanguage } from '../http/language.ts';
import { z } from 'zod';
import { clearSecondFactorDue, type Account } from '../accounts/accounts.ts';
import { accountFacts, proveFactor, usableFactors, type StepUpEvaluation } from '../authentication/request_state.ts';
import { isWellFormed, reachesMailbox, type Factor, type VerifyResult } from '../factors/contract.ts';
import { createMethodChoice, type MethodChoice } from '../factors/method_choice.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { LEVEL } from '../shared/assurance.ts';
import { requestedAcrLevel } from '../policy/step_up.ts';
import { requestFromParams } from '../policy/step_up_params.ts';
import { renderFactorPart } from '../http/pages.ts';
import { clientNameOf, loadInteraction, pageWords, renderInteractionPage, type InteractionDeps, type InteractionDetails } from './context.ts';
import { formBody } from '../http/forms.ts';
import { STATUS, entryMessage, failureMessage, mfaMessage, type FailureMessage } from '../factors/failure_messages.ts';
import { finishLogin, finishUnmet, notifyLockout, originOf, restartSignIn } from './finish.ts';
import { offerNewPhone } from './recovered.ts';
import { evaluatePending, pendingStepUpOf, proofHolderOf, redirectToStep, type PendingStepUp } from './step_up_state.ts';

/** One step of a step-up in progress: the interaction, whose it is, the account and what the decision asks. */
export interface Step {
  readonly interaction: InteractionDetails;
  readonly pending: PendingStepUp;
  readonly account: Account;
  readonly evaluation: StepUpEvaluation;
  /** The level to prove (or to enrol a factor for). */
  readonly level: number;
  readonly enrol: boolean;
}

/**
 * The step of a POST: the interaction (CSRF checked), its pending step-up and the decision. Otherwise it answers
 * itself and returns `undefined`: a redirect to the current step (a double submit, a stale page, nothing more to
 * prove) or the sign-in page (the account or its proofs are gone).
 */
export async function postStep(ctx: Context, deps: InteractionDeps, loaded?: InteractionDetails): Promise<Step | undefined> {
  const interaction = loaded ?? await loadInteraction(ctx, deps.provider);
  if (!loaded) deps.csrf.verify(interaction.uid, formBody(ctx).csrf);
  const pending = pendingStepUpOf(interaction);
  if (!pending || pending.enrolled) {
    redirectToStep(ctx, interaction.uid);
    return undefined;
  }
  const evaluation = await evaluatePending(ctx, deps, interaction, pending);
  const { account } = evaluation.facts;
  if (!account || !evaluation.current) {
    await restartSignIn(ctx, deps, interaction);
    return undefined;
  }
  const { decision } = evaluation;
  if (!('required' in decision) || !decision.required) {
    redirectToStep(ctx, interaction.uid);
    return undefined;
  }
  return { interaction, pending, account, evaluation, level: decision.level, enrol: decision.enrol };
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
 * The methods the page may offer at `level`: it opens on `chosen` when usable, else on the customer's primary method
 * (the stored choice, or the first enrolled); the others are the usable alternatives — a level-3 request never lists
 * a level-2 method (email codes); recovery codes are always there as a backup.
 */
async function methodsFor(
  ctx: Context, deps: InteractionDeps, accountId: string, level: number, chosen?: string, beyondMailbox = false,
): Promise<{ current?: Factor; others: Factor[] }> {
  const choice = methodChoiceOf(deps);
  if (!choice) return { others: [] };
  const held = await usableFactors(deps, ctx.req, accountId);
  const { primary, alternatives } = await choice.methodOptions(accountId, level, beyondMailbox ? held.filter((factor) => !reachesMailbox(factor)) : held);
  const usable = primary ? [primary, ...alternatives] : [...alternatives];
  const current = usable.find((factor) => factor.id === chosen) ?? primary;
  return { ...(current ? { current } : {}), others: usable.filter((factor) => factor !== current) };
}

export interface ChallengeForm {
  message?: FailureMessage;
  method?: string;
  sentTo?: string;
  status?: number;
}

/** After a password reset by emailed link only a factor beyond the mailbox is asked (the link proved the mailbox). */
function beyondMailboxOnly(step: Pick<Step, 'evaluation'>): boolean {
  const { decision } = step.evaluation;
  return 'reason' in decision && decision.reason === 'password_reset';
}

export async function renderChallenge(ctx: Context, deps: InteractionDeps, step: Omit<Step, 'enrol'>, form: ChallengeForm): Promise<void> {
  const { interaction, account, level } = step;
  const { current, others } = await methodsFor(ctx, deps, account.id, level, form.method, beyondMailboxOnly(step));
  if (!current) {
    await finishUnmet(ctx, step.interaction);
    return;
  }
  const csrf = deps.csrf.tokenFor(interaction.uid);
  const backups = new Set(deps.factors?.backup ?? []);
  if (form.message?.id === 'locked' || form.message?.id === 'locked_permanent') {
    // The primary methods share one attempt budget, the backups keep their own: offer only what still works.
    const offers = others.filter((factor) => backups.has(factor) !== backups.has(current));
    renderInteractionPage(ctx, deps, interaction, 'mfa_locked', {
      title: 'mfa.locked.title',
      clientName: await clientNameOf(ctx, deps.provider, interaction),
      csrf,
      ways: offers.map((factor) => ({ id: factor.id, label: backups.has(factor) ? factor.offer ?? factor.label : factor.label })),
      // A lock that ends: the same method again once it has.
      retryUrl: form.message.id === 'locked' ? `/interaction/${interaction.uid}?method=${encodeURIComponent(current.id)}` : undefined,
      error: form.message.message,
      errorId: form.message.id,
    }, form.status ?? 429);
    return;
  }
  const destination = current.destination?.(account);
  const methodHtml = renderFactorPart(ctx, deps.views, current, 'challenge', {
    stage: 'challenge',
    csrf,
    actions: {
      verify: `/interaction/${interaction.uid}/mfa`,
      ...(current.challenge ? { send: `/interaction/${interaction.uid}/mfa/send` } : {}),
    },
    ...(destination ? { destination } : {}),
    ...(form.sentTo ? { sent: { to: form.sentTo, resendInSeconds: 0 } } : {}),
    ...(form.message ? { error: pageWords(ctx, deps).t(form.message.message) } : {}),
  });
  renderInteractionPage(ctx, deps, interaction, 'mfa_challenge', {
    title: 'mfa.challenge.title',
    clientName: await clientNameOf(ctx, deps.provider, interaction),
    csrf,
    methodHtml,
    otherMethods: others.filter((factor) => !backups.has(factor)).map((factor) => ({ id: factor.id, label: factor.label })),
    backupMethods: others.filter((factor) => backups.has(factor)).map((factor) => ({ id: factor.id, offer: factor.offer ?? factor.label })),
    error: form.message?.message,
    errorId: form.message?.id,
  }, form.status ?? 200);
}

export const codeForm = z.object({
  code: z.string().max(64).optional(),
  method: z.string().max(64).optional(),
});

/** The level the request's acr values ask for (the client's `default_acr_values` without `acr_values`). */
async function requestedLevel(deps: InteractionDeps, interaction: InteractionDetails): Promise<number> {
  const client = await deps.provider.Client.find(String(interaction.params.client_id ?? ''));
  return requestedAcrLevel(requestFromParams(interaction.params, (client?.defaultAcrValues ?? []) as readonly string[]));
}

/**
 * POST /interaction/:uid/mfa — the code of the chosen method. The code is checked first and recorded where it is
 * proven; the decision comes after (what else is needed, if anything). A code of any method the account holds is a
 * true proof: a weaker one than the step asks for is recorded and the page then asks for the stronger one.
 */
export async function submitChallenge(ctx: Context, deps: InteractionDeps): Promise<void> {
  const interaction = await loadInteraction(ctx, deps.provider);
  deps.csrf.verify(interaction.uid, formBody(ctx).csrf);
  const pending = pendingStepUpOf(interaction);
  if (!pending || pending.enrolled) return redirectToStep(ctx, interaction.uid);
  // The account first: one disabled or removed meanwhile gets the sign-in page, and no code is used up.
  const { account } = await accountFacts(deps, ctx.req, pending.accountId);
  if (!account) return restartSignIn(ctx, deps, interaction);
  noteLanguageHints(ctx, { account });
  const parsed = codeForm.safeParse(formBody(ctx));
  const factor = parsed.success && parsed.data.method !== undefined ? deps.factors?.get(parsed.data.method) : undefined;
  if (!parsed.success || !factor) {
    const step = await postStep(ctx, deps, interaction);
    if (!step) return;
    const message = mfaMessage(parsed.success ? 'not_enrolled' : 'invalid_form');
    await renderChallenge(ctx, deps, step, { message, status: 400 });
    return;
  }
  if (reachesMailbox(factor) && account.secondFactorDue) {
    // After a reset by emailed link a mailed code proves nothing the link did not: refused unchecked, nothing sent.
    const step = await postStep(ctx, deps, interaction);
    if (!step) return;
    if (beyondMailboxOnly(step)) {
      await renderChallenge(ctx, deps, step, { message: mfaMessage('not_enrolled'), status: 400 });
      return;
    }
  }
  if (factor.level < await requestedLevel(deps, interaction)) {
    // Below what the shop asked for: checked only when the step itself asks for no more (a held weaker factor
    // proven before a stronger one is added); otherwise refused unchecked, no code used up.
    const step = await postStep(ctx, deps, interaction);
    if (!step) return;
    if (factor.level < step.level || step.enrol) {
      await renderChallenge(ctx, deps, step, { message: mfaMessage('not_enrolled'), status: 400 });
      return;
    }
  }
  const code = parsed.data.code ?? '';
  if (!isWellFormed(factor, code)) {
    // Empty or not a code of this factor: refused unchecked, so it never counts as an attempt.
    const step = await postStep(ctx, deps, interaction);
    if (!step) return;
    await renderChallenge(ctx, deps, step, { message: entryMessage(code), method: factor.id, status: 400 });
    return;
  }
  const result: VerifyResult = await factor.verify(account.id, code);
  if (!result.ok) {
    deps.logger.info({ event: 'mfa.failed', accountId: account.id, factor: factor.id, code: result.code }, 'second factor failed');
    await notifyLockout(ctx, deps, interaction, account, result);
    const step = await postStep(ctx, deps, interaction);
    if (!step) return;
    const message = failureMessage(result, factor);
    await renderChallenge(ctx, deps, step, { message, method: factor.id, status: STATUS[message.id] ?? 400 });
    return;
  }
  deps.logger.info({ event: 'mfa.succeeded', accountId: account.id, factor: factor.id }, 'second factor verified');
  const proven = await proveFactor(deps, ctx.req, proofHolderOf(interaction, pending), account, factor.id, { at: new Date(), interaction: interaction.uid });
  if (result.remaining !== undefined) {
    // A counted backup code was used (a recovery code): the customer learns it, and how many are left.
    await deps.events.record(originOf(ctx, interaction), { kind: 'recovery_code_used', account, details: { remaining: result.remaining } });
  }
  if (!proven) return restartSignIn(ctx, deps, interaction);
  if (account.secondFactorDue && factor.level >= LEVEL.mfa && !reachesMailbox(factor)) await clearSecondFactorDue(deps.conn, account.id);
  // More may be needed now (an enrolment after the held factor was proven, a stronger factor): the next step's page.
  const next = (await evaluatePending(ctx, deps, interaction, pending)).decision;
  if ('required' in next && next.required) return redirectToStep(ctx, interaction.uid);
  // A recovery code most likely means a lost phone: "N codes left — set up your new phone?" before the shop.
  if (result.remaining !== undefined) return offerNewPhone(ctx, deps, interaction, pending, result.remaining);
  await finishLogin(ctx, deps, interaction, pending);
}

/** POST /interaction/:uid/mfa/send — sends a code for a method that delivers one (email). */
export async function submitSend(ctx: Context, deps: InteractionDeps): Promise<void> {
  const step = await postStep(ctx, deps);
  if (!step) return;
  const { account, level } = step;
  if (step.enrol) {
    redirectToStep(ctx, step.interaction.uid);
    return;
  }
  const parsed = codeForm.safeParse(formBody(ctx));
  const { current } = await methodsFor(ctx, deps, account.id, level, parsed.success ? parsed.data.method : undefined, beyondMailboxOnly(step));
  if (!current?.challenge) {
    await renderChallenge(ctx, deps, step, { message: mfaMessage('not_enrolled'), status: 400 });
    return;
  }
  const sent = await current.challenge.send({ id: account.id, email: account.email, name: account.name, language: account.language ?? requestLanguage(ctx) });
  if (!sent.ok) {
    const message = failureMessage(sent);
    await renderChallenge(ctx, deps, step, { message, method: current.id, status: STATUS[message.id] ?? 400 });
    return;
  }
  await renderChallenge(ctx, deps, step, { method: current.id, ...(sent.sentTo ? { sentTo: sent.sentTo } : {}) });
}
