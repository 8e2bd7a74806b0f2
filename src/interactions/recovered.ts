/**
 * After a recovery code: the lost-phone path inside the sign-in. A customer who signs in with a recovery code most
 * likely lost the phone, so before going back to the shop the page says how many codes are left and offers to set up
 * the authenticator app on a new phone now (as GitHub and Google do) — one action: the new app replaces the old one
 * at its confirmation (the old phone's codes stop working then, not before) and a new set of recovery codes replaces
 * the old set, shown once.
 *
 * Replacing a factor needs a fresh second factor of this very sign-in (the recovery code just entered; OWASP ASVS
 * 2.5.5 / 7.5.1) and the password proven in it: a browser whose password was proven earlier (a signed-in session
 * stepping up) is sent to the security settings for the change, which asks for both again.
 *
 * Routes: `POST /interaction/:uid/replace` · `…/replace/renew` (a new QR code) · `…/replace/confirm`; the GET of the
 * interaction shows the page again (`showRecovered`), "Not now" is `POST …/mfa/continue`.
 */
import type { Context } from 'koa';
import type { Account } from '../accounts/accounts.ts';
import { proveFactor } from '../authentication/request_state.ts';
import { isWellFormed, type Factor, type FactorAccount } from '../factors/contract.ts';
import { STATUS, entryMessage, failureMessage, type FailureMessage } from '../factors/failure_messages.ts';
import { field, formBody } from '../http/forms.ts';
import { renderFactorPart } from '../http/pages.ts';
import { LEVEL } from '../shared/assurance.ts';
import { clientNameOf, loadInteraction, pageWords, renderInteractionPage, type InteractionDeps, type InteractionDetails } from './context.ts';
import { originOf, restartSignIn } from './finish.ts';
import { evaluatePending, pendingStepUpOf, proofHolderOf, redirectToStep, savePending, type PendingStepUp } from './step_up_state.ts';

/** Where the customer changes methods outside a sign-in. */
const SECURITY_SETTINGS_PATH = '/account';

interface Recovered {
  readonly interaction: InteractionDetails;
  readonly pending: PendingStepUp & { readonly recovered: { readonly remaining: number } };
  readonly account: Account;
  /** The factor a new phone replaces, when it can be replaced in this sign-in. */
  readonly factor: Factor | undefined;
  /** The account holds such a factor but this sign-in did not prove the password: the settings do it. */
  readonly elsewhere: boolean;
}

function factorAccount(account: Account): FactorAccount {
  return { id: account.id, email: account.email, name: account.name };
}

/** The account's factor that lives on a phone: a primary one set up with a confirmation, not one that mails its code. */
async function phoneFactor(deps: InteractionDeps, accountId: string): Promise<Factor | undefined> {
  const usable = await deps.factors?.usableFactors(accountId, LEVEL.mfa) ?? [];
  return usable.find((factor) => factor.role === 'primary' && factor.enrol?.confirm !== undefined && factor.enrol.delivers === false);
}

/**
 * The sign-in after a recovery code, or `undefined` after answering itself (the step is elsewhere, or the sign-in
 * must start again).
 */
async function recoveredStep(ctx: Context, deps: InteractionDeps, interaction: InteractionDetails, pending: PendingStepUp): Promise<Recovered | undefined> {
  if (!pending.recovered) {
    redirectToStep(ctx, interaction.uid);
    return undefined;
  }
  const evaluation = await evaluatePending(ctx, deps, interaction, pending);
  const { account } = evaluation.facts;
  if (!account || !evaluation.current) {
    await restartSignIn(ctx, deps, interaction);
    return undefined;
  }
  const factor = await phoneFactor(deps, account.id);
  const passwordHere = evaluation.state?.password.interaction === interaction.uid;
  return {
    interaction, account, pending: pending as Recovered['pending'],
    factor: passwordHere ? factor : undefined,
    elsewhere: factor !== undefined && !passwordHere,
  };
}

/** After a recovery code: "N recovery codes left — set up your new phone now?" (the GET of the interaction, too). */
export async function showRecovered(ctx: Context, deps: InteractionDeps, interaction: InteractionDetails, pending: PendingStepUp): Promise<void> {
  const step = await recoveredStep(ctx, deps, interaction, pending);
  if (!step) return;
  renderInteractionPage(ctx, deps, interaction, 'mfa_recovered', {
    title: 'mfa.recovered.title',
    clientName: await clientNameOf(ctx, deps.provider, interaction),
    csrf: deps.csrf.tokenFor(interaction.uid),
    remaining: step.pending.recovered.remaining,
    factorLabel: step.factor?.label,
    factorInSentence: step.factor?.inSentence,
    settingsUrl: step.elsewhere ? SECURITY_SETTINGS_PATH : undefined,
  });
}

/** Records that the recovery code just used ends this sign-in's code step, and shows the page. */
export async function offerNewPhone(
  ctx: Context, deps: InteractionDeps, interaction: InteractionDetails, pending: PendingStepUp, remaining: number,
): Promise<void> {
  const next = { ...pending, recovered: { remaining } };
  await savePending(interaction, next);
  await showRecovered(ctx, deps, interaction, next);
}

async function postRecovered(ctx: Context, deps: InteractionDeps): Promise<Recovered | undefined> {
  const interaction = await loadInteraction(ctx, deps.provider);
  deps.csrf.verify(interaction.uid, formBody(ctx).csrf);
  const pending = pendingStepUpOf(interaction);
  if (!pending || pending.enrolled) {
    redirectToStep(ctx, interaction.uid);
    return undefined;
  }
  const step = await recoveredStep(ctx, deps, interaction, pending);
  if (step && !step.factor) {
    redirectToStep(ctx, interaction.uid);
    return undefined;
  }
  return step;
}

/** The new phone's enrolment page: the factor's own template, with "replace" (the old one works until confirmed). */
async function renderReplace(
  ctx: Context, deps: InteractionDeps, step: Recovered, options: { renew?: boolean; message?: FailureMessage; status?: number } = {},
): Promise<void> {
  const { interaction, account } = step;
  const factor = step.factor as Factor;
  const begun = await factor.enrol?.begin(factorAccount(account), { replace: true, binding: interaction.uid, ...(options.renew ? { renew: true } : {}) });
  if (!begun?.ok) {
    await showRecovered(ctx, deps, interaction, step.pending);
    return;
  }
  const csrf = deps.csrf.tokenFor(interaction.uid);
  const base = `/interaction/${interaction.uid}/replace`;
  renderInteractionPage(ctx, deps, interaction, 'mfa_replace', {
    title: 'mfa.replace.title',
    clientName: await clientNameOf(ctx, deps.provider, interaction),
    csrf,
    factorLabel: factor.label,
    enrolmentHtml: renderFactorPart(ctx, deps.views, factor, 'enrol', {
      stage: 'pending', csrf, actions: { confirm: `${base}/confirm`, renew: `${base}/renew` }, enrolment: begun.view,
      ...(options.message ? { error: pageWords(ctx, deps).t(options.message.message) } : {}),
    }),
    error: options.message?.message,
    errorId: options.message?.id,
  }, options.status ?? 200);
}

/** POST /interaction/:uid/replace — the new phone's QR code (the same one again for a repeated post). */
export async function submitReplace(ctx: Context, deps: InteractionDeps): Promise<void> {
  const step = await postRecovered(ctx, deps);
  if (step) await renderReplace(ctx, deps, step);
}

/** POST /interaction/:uid/replace/renew — "Show a new QR code": the earlier pending one is discarded. */
export async function submitReplaceRenew(ctx: Context, deps: InteractionDeps): Promise<void> {
  const step = await postRecovered(ctx, deps);
  if (step) await renderReplace(ctx, deps, step, { renew: true });
}

/**
 * POST /interaction/:uid/replace/confirm — the new phone's code: the app is replaced, the recovery codes too (the new
 * set shown once), and each change is mailed; then "continue" goes back to the shop.
 */
export async function submitReplaceConfirm(ctx: Context, deps: InteractionDeps): Promise<void> {
  const step = await postRecovered(ctx, deps);
  if (!step) return;
  const { interaction, account, pending } = step;
  const factor = step.factor as Factor;
  const code = field(ctx, 'code') ?? '';
  if (!isWellFormed(factor, code)) return renderReplace(ctx, deps, step, { message: entryMessage(code), status: 400 });
  const confirmed = await factor.enrol?.confirm?.(account.id, code, interaction.uid);
  if (!confirmed?.ok) {
    const message = confirmed ? failureMessage(confirmed, factor) : entryMessage('');
    return renderReplace(ctx, deps, step, { message, status: STATUS[message.id] ?? 400 });
  }
  deps.logger.info({ event: 'mfa.replaced', accountId: account.id, factor: factor.id }, 'second factor replaced after a recovery code');
  const origin = originOf(ctx, interaction);
  await deps.events.record(origin, { kind: 'factor_added', account, details: { method: factor.label }, auditDetails: { factorId: factor.id, replaced: confirmed.replaced } });
  if (!await proveFactor(deps, ctx.req, proofHolderOf(interaction, pending), account, factor.id, { at: new Date(), interaction: interaction.uid })) {
    return restartSignIn(ctx, deps, interaction);
  }
  await savePending(interaction, { ...pending, enrolled: { factorId: factor.id } });
  const backup = deps.factors?.backup.find((candidate) => candidate.enrol !== undefined);
  // `replace`: the recovery code and the new app were both just proven in this sign-in.
  const issued = backup?.enrol ? await backup.enrol.begin(factorAccount(account), { replace: true, binding: interaction.uid }) : undefined;
  if (issued?.ok) await deps.events.record(origin, { kind: 'recovery_codes_regenerated', account });
  const csrf = deps.csrf.tokenFor(interaction.uid);
  renderInteractionPage(ctx, deps, interaction, 'mfa_recovery_codes', {
    title: 'mfa.replace.done_title',
    heading: 'mfa.replace.done_title',
    // Said of the new factor (the template fills in its name).
    status: 'mfa.replace.done_status',
    clientName: await clientNameOf(ctx, deps.provider, interaction),
    csrf,
    factorLabel: factor.label,
    factorInSentence: factor.inSentence,
    backupHtml: backup && issued?.ok ? renderFactorPart(ctx, deps.views, backup, 'enrol', { stage: 'pending', csrf, actions: {}, enrolment: issued.view }) : undefined,
  });
}
