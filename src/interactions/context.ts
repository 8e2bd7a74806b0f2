import type { Context } from 'koa';
import type { Connection } from 'mongoose';
import { errors, type default as Provider } from 'oidc-provider';
import { carryHeldProofs, type HoldingInteraction } from '../authentication/held_proofs.ts';
import { renderPage, seeOther } from '../http/pages.ts';
import { clientNameIn, noteLanguageHints, noteLanguageReturn, translatorOf } from '../http/language.ts';
import type { Message, Translator } from '../i18n/languages.ts';
import type { Views } from '../http/views.ts';
import { allowFormActions } from '../http/security_headers.ts';
import { AppError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { CsrfTokens } from './csrf.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import type { MethodChoice } from '../factors/method_choice.ts';
import type { SecurityEvents } from '../security/events.ts';
import { supportLocals, type SupportContact } from '../shared/support.ts';

/** What every interaction step needs. */
export interface InteractionDeps {
  provider: Provider;
  conn: Connection;
  views: Views;
  csrf: CsrfTokens;
  logger: Logger;
  /** The second factors (step-up challenge and enrolment); without them step-ups are unmet. */
  factors?: FactorRegistry;
  /**
   * The customers' primary-method choice over {@link factors}; when absent it is created once per registry from
   * `conn` + `factors` (see `methodChoiceOf` in `mfa.ts`).
   */
  methodChoice?: MethodChoice;
  /** Security events (factor added, recovery code used, lockout): the audit record and, with a mailer, the mail. */
  events: SecurityEvents;
  /** How long a session's proofs are kept (see `AuthenticationDeps.proofsKeepMs`). */
  proofsKeepMs?: number | undefined;
  /** The page that asks for a password reset by email, when the deployment offers one (linked from the sign-in). */
  passwordResetPath?: string | undefined;
  /** Where customers get help (linked on the pages where they may be stuck). */
  support?: SupportContact | undefined;
}

export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

function interactionGone(cause?: unknown): AppError {
  return new AppError(
    'interaction_not_found',
    'This sign-in page has expired or is not valid. Go back to the shop and start the sign-in again.',
    { status: 400, cause },
  );
}

/**
 * The interaction the browser's `_interaction` cookie points at, which must be the one in the URL:
 * oidc-provider finds it by cookie only, so a tampered or stale uid in the path is refused here.
 */
export async function loadInteraction(ctx: Context, provider: Provider): Promise<InteractionDetails> {
  let interaction: InteractionDetails;
  try {
    interaction = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    if (err instanceof errors.SessionNotFound) throw interactionGone(err);
    throw err;
  }
  if (interaction.uid !== ctx.params.uid) throw interactionGone();
  // The shop's preferred languages (OIDC Core §3.1.2.1 `ui_locales`) count from here on: for the factor's part of a
  // page rendered before the page itself, and for the mails a step sends.
  noteLanguageHints(ctx, { uiLocales: interaction.params.ui_locales });
  return interaction;
}

/** Display name of the interaction's client (its `client_name` in the page's language, else its `client_name`, else its id). */
export async function clientNameOf(ctx: Context, provider: Provider, interaction: InteractionDetails): Promise<string> {
  const clientId = String(interaction.params.client_id ?? '');
  const client = clientId ? await provider.Client.find(clientId) : undefined;
  return clientNameIn(ctx, client) ?? clientId;
}

/**
 * Renders an interaction page: never cached, and allowed to post forms whose redirects end at the shop's
 * `redirect_uri` (already validated by oidc-provider when the interaction started).
 */
export function renderInteractionPage(
  ctx: Context,
  deps: Pick<InteractionDeps, 'views' | 'support'>,
  interaction: InteractionDetails,
  view: string,
  locals: Record<string, unknown> & { title: string | Message },
  status = 200,
): void {
  const redirectUri = interaction.params.redirect_uri;
  if (typeof redirectUri === 'string') allowFormActions(ctx, [redirectUri]);
  // The shop's preferred languages; the language switch of a page answering a form post returns to the step's GET.
  noteLanguageHints(ctx, { uiLocales: interaction.params.ui_locales });
  if (ctx.method !== 'GET') noteLanguageReturn(ctx, `/interaction/${interaction.uid}`);
  renderPage(ctx, deps.views, view, { uid: interaction.uid, support: supportLocals(deps.support), ...locals }, status);
}

/**
 * The words of this request's page (`src/http/language.ts`), for text handed to a factor's template as text (its
 * `error`, which the template only points at).
 */
export function pageWords(ctx: Context, deps: Pick<InteractionDeps, 'views'>): Translator {
  return translatorOf(ctx, deps.views.languages);
}

/** What a step hands to oidc-provider (`login`, `consent`, `error`, or our own keys between the pages). */
export type InteractionResult = Parameters<Provider['interactionResult']>[2];

/**
 * Stores `result` in the interaction this request loaded (what oidc-provider's `interactionResult` does, without
 * reading the interaction again) and returns where the browser resumes. The proofs the interaction holds for a
 * browser without a session go along (`src/authentication/held_proofs.ts`) unless `dropProofs`.
 */
export async function saveInteractionResult(
  interaction: InteractionDetails, result: InteractionResult, options: { mergeWithLastSubmission: boolean; dropProofs?: boolean },
): Promise<string> {
  const merge = options.mergeWithLastSubmission && !('error' in result);
  const next = carryHeldProofs(interaction as unknown as HoldingInteraction, result, { drop: options.dropProofs === true });
  interaction.result = merge ? { ...interaction.lastSubmission, ...next } : next;
  await interaction.persist();
  return interaction.returnTo;
}

/** Hands the step's result to oidc-provider and sends the browser on (303: the next request is a GET). */
export async function finishInteraction(
  ctx: Context,
  interaction: InteractionDetails,
  result: InteractionResult,
  options: { mergeWithLastSubmission: boolean },
): Promise<void> {
  seeOther(ctx, await saveInteractionResult(interaction, result, options));
}

