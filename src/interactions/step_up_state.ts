/**
 * The step-up state of a login interaction: whose step-up it is, in which browser session its proofs are recorded, and
 * what the decision says now. Every step (the GET dispatcher, the challenge, the enrolment) starts here.
 *
 * Whose step-up it is:
 * - a fresh browser: the password step verified the account, recorded the password proof in the interaction (the
 *   browser has no provider session until the login resumes: `src/authentication/held_proofs.ts`) and stored a
 *   {@link PendingStepUp} in the interaction's result (no login yet), so password + code make **one** interaction;
 * - a signed-in customer: the session's account, when the only reason to prompt is the step-up; the page shows the
 *   code step only, and the password form is refused (a step-up never switches account).
 *
 * The pending step-up holds no proof: who proved what, when, is the authentication state's (`src/authentication/`),
 * reached through {@link proofHolderOf}.
 */
import type { Context } from 'koa';
import { noteLanguageHints } from '../http/language.ts';
import { evaluateStepUp, type ProofHolder, type StepUpEvaluation } from '../authentication/request_state.ts';
import type { HoldingInteraction } from '../authentication/held_proofs.ts';
import type { ProofWindow } from '../authentication/state.ts';
import { maxAgeSince, requestFromParams } from '../policy/step_up_params.ts';
import { MFA_REQUIRED_REASON, SESSION_OUTDATED_REASON } from '../policy/interaction.ts';
import { saveInteractionResult, type InteractionDeps, type InteractionDetails } from './context.ts';
import { seeOther } from '../http/pages.ts';

/** What the interaction remembers between its pages (server-side, in the interaction's result). */
export interface PendingStepUp {
  readonly accountId: string;
  /**
   * The browser's provider session whose authentication state holds this sign-in's proofs; absent for a browser
   * without a session: the interaction holds them until the login resumes.
   */
  readonly sessionUid?: string;
  /** "Keep me signed in" of the password form; absent for a signed-in session (its own setting is kept). */
  readonly remember?: boolean;
  /** Set once enrolment confirmed a new factor in this interaction: the recovery codes page comes next. */
  readonly enrolled?: { readonly factorId: string };
  /** Set once a recovery code proved this sign-in: the lost-phone page comes next (`recovered.ts`). */
  readonly recovered?: { readonly remaining: number };
  /** The enrolment in progress in this interaction (see `enrol.ts`). */
  readonly enrolment?: EnrolmentState;
}

/** What the enrolment inside the login remembers between its pages. */
export interface EnrolmentState {
  /** The factor the customer chose to set up. */
  readonly factorId: string;
  /** A code was sent for this enrolment: the code form is shown. */
  readonly codeSent?: boolean;
}

/** Reasons that ask for the password again; with any of them the password form comes first. */
const PASSWORD_REASONS = new Set(['no_session', 'login_prompt', 'max_age', 'id_token_hint', 'claims_id_token_sub_value', SESSION_OUTDATED_REASON]);

/**
 * Which proofs count for the interaction's request: with `max_age`, those newer than the request (its `iat` is in
 * whole seconds: the end of that second is taken) minus `max_age`, and those made in the interaction itself.
 */
export function proofWindowOf(interaction: InteractionDetails): ProofWindow {
  const requestedAt = new Date((interaction.iat ?? Math.floor(Date.now() / 1000)) * 1000 + 999);
  return { since: maxAgeSince(interaction.params, requestedAt), interaction: interaction.uid };
}

/** The step-up in progress for this interaction, or undefined when the password form comes first. */
export function pendingStepUpOf(interaction: InteractionDetails): PendingStepUp | undefined {
  if (interaction.prompt.name !== 'login') return undefined;
  const stored = (interaction.result as { stepUpPending?: PendingStepUp } | undefined)?.stepUpPending;
  if (stored && typeof stored.accountId === 'string' && (stored.sessionUid === undefined || typeof stored.sessionUid === 'string')) return stored;
  const session = interaction.session;
  const reasons = interaction.prompt.reasons;
  if (!session?.accountId || !session.uid || !reasons.includes(MFA_REQUIRED_REASON) || reasons.some((reason) => PASSWORD_REASONS.has(reason))) {
    return undefined;
  }
  return { accountId: session.accountId, sessionUid: session.uid };
}

/** The decision for the pending step-up, from the authentication state (loaded once for this request). */
export async function evaluatePending(ctx: Context, deps: InteractionDeps, interaction: InteractionDetails, pending: PendingStepUp): Promise<StepUpEvaluation> {
  const client = await deps.provider.Client.find(String(interaction.params.client_id ?? ''));
  const evaluation = await evaluateStepUp(deps, ctx.req, {
    accountId: pending.accountId,
    holder: proofHolderOf(interaction, pending),
    params: requestFromParams(interaction.params, (client?.defaultAcrValues ?? []) as readonly string[]),
    window: proofWindowOf(interaction),
  });
  noteLanguageHints(ctx, { account: evaluation.facts.account });
  return evaluation;
}

/** Stores the pending step-up in the interaction (not a login: resuming with it asks for the login again). */
export async function savePending(interaction: InteractionDetails, pending: PendingStepUp | undefined): Promise<void> {
  await saveInteractionResult(interaction, pending ? { stepUpPending: pending } : {}, { mergeWithLastSubmission: false, dropProofs: !pending });
}

export function redirectToStep(ctx: Context, uid: string): void {
  seeOther(ctx, `/interaction/${uid}`);
}

/**
 * Where this sign-in's proofs are recorded: the browser's provider session when it has one, else the interaction
 * (until the login resumes into the session oidc-provider creates then).
 */
export function proofHolderOf(interaction: InteractionDetails, pending?: Pick<PendingStepUp, 'sessionUid'>): ProofHolder {
  const sessionUid = pending ? pending.sessionUid : interaction.session?.uid;
  return sessionUid ? { sessionUid } : { interaction: interaction as unknown as HoldingInteraction };
}
