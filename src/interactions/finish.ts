/**
 * The ends of a login interaction with a step-up: the login (what the session proves, derived from its authentication
 * state), `unmet_authentication_requirements`, a sign-in that cannot go on (the account was disabled meanwhile, or its
 * proofs are gone), and the security notifications the steps send.
 *
 * The login result carries `acr`/`amr` derived from the session's proofs and, as `ts` (`auth_time`), the time of the
 * latest proof made in this interaction. When nothing was proven in it (the step-up turned out unnecessary, e.g.
 * another tab did it meanwhile) there is no login result at all: the session and its `auth_time` stay as they were.
 */
import type { Context } from 'koa';
import type { Account } from '../accounts/accounts.ts';
import { accountFacts, holderProofs } from '../authentication/request_state.ts';
import { deriveProven, isCurrent, proofsOf } from '../authentication/state.ts';
import type { FactorFailure } from '../factors/contract.ts';
import type { Origin } from '../security/events.ts';
import { finishInteraction, renderInteractionPage, clientNameOf, type InteractionDeps, type InteractionDetails } from './context.ts';
import { proofHolderOf, savePending, type PendingStepUp } from './step_up_state.ts';
import { requestLanguage } from '../http/language.ts';
import { msg } from '../i18n/languages.ts';

export async function finishUnmet(ctx: Context, interaction: InteractionDetails): Promise<void> {
  await finishInteraction(ctx, interaction, {
    error: 'unmet_authentication_requirements',
    error_description: 'the required authentication level cannot be met for this account',
  }, { mergeWithLastSubmission: false });
}

/**
 * The account of the step-up was disabled or removed meanwhile, or the session's proofs were ended (a password change
 * elsewhere): the pending step-up and the proofs the interaction held are dropped and the sign-in page says to sign in
 * again. Nothing is written for the account.
 */
export async function restartSignIn(ctx: Context, deps: InteractionDeps, interaction: InteractionDetails): Promise<void> {
  await savePending(interaction, undefined);
  const loginHint = typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint.slice(0, 320) : '';
  renderInteractionPage(ctx, deps, interaction, 'login', {
    title: 'login.title',
    clientName: await clientNameOf(ctx, deps.provider, interaction),
    csrf: deps.csrf.tokenFor(interaction.uid),
    email: loginHint,
    remember: false,
    // The sign-in page's message when a step-up cannot go on.
    error: msg('mfa.error.sign_in_again'),
  }, 409);
}

/** Whether the browser's provider session is transient ("don't remember me"): a step-up keeps it so. */
async function sessionTransient(deps: InteractionDeps, sessionUid: string): Promise<boolean> {
  const session = await deps.provider.Session.findByUid(sessionUid);
  return session?.transient === true;
}

/** Finishes the login with what the session proves now; see the module comment. */
export async function finishLogin(ctx: Context, deps: InteractionDeps, interaction: InteractionDetails, pending: PendingStepUp): Promise<void> {
  const [facts, state] = await Promise.all([accountFacts(deps, ctx.req, pending.accountId), holderProofs(deps, ctx.req, proofHolderOf(interaction, pending))]);
  if (!facts.account || !isCurrent(state, facts.account)) return restartSignIn(ctx, deps, interaction);
  const [latest] = proofsOf(state, interaction.uid);
  if (!latest) {
    await finishInteraction(ctx, interaction, {}, { mergeWithLastSubmission: false });
    return;
  }
  const proven = deriveProven(state, facts.account, (id) => deps.factors?.get(id));
  // oidc-provider defaults `remember` to true: a "don't remember me" session must stay transient.
  const remember = pending.remember ?? !(pending.sessionUid && await sessionTransient(deps, pending.sessionUid));
  await finishInteraction(ctx, interaction, {
    login: { accountId: pending.accountId, acr: proven.acr, amr: proven.amr, ts: Math.floor(latest.getTime() / 1000), remember },
  }, { mergeWithLastSubmission: false });
}

/** Where a sign-in's events come from: the browser, and the shop the sign-in is for. */
export function originOf(ctx: Context, interaction: InteractionDetails): Origin {
  return {
    ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, clientId: String(interaction.params.client_id ?? '') || undefined, language: requestLanguage(ctx),
  };
}

/** Notifies a lockout that this very failure started. */
export async function notifyLockout(
  ctx: Context, deps: InteractionDeps, interaction: InteractionDetails, account: Pick<Account, 'id' | 'email' | 'name'>, failure: FactorFailure,
): Promise<void> {
  if (failure.code === 'locked' || !failure.lock) return;
  deps.logger.warn({ event: 'mfa.locked', accountId: account.id, permanent: failure.lock.permanent }, 'second factor locked');
  await deps.events.record(originOf(ctx, interaction), { kind: 'account_locked', account, details: { until: failure.lock.until, failures: failure.lock.failures } });
}
