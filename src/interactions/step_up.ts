/**
 * GET of a login interaction with a step-up in progress: the challenge, the enrolment inside the login, or the end of
 * the flow when nothing (more) is needed. The POST steps live in `mfa.ts` (challenge) and `enrol.ts` (enrolment).
 */
import type { Context } from 'koa';
import { finishInteraction, type InteractionDeps, type InteractionDetails } from './context.ts';
import { showEnrolment } from './enrol.ts';
import { decide, finishLogin, finishUnmet, renderChallenge, type PendingStepUp } from './mfa.ts';

/** The challenge or the enrolment page, or the end of the flow when nothing (more) is needed. */
export async function showStepUp(ctx: Context, deps: InteractionDeps, interaction: InteractionDetails, pending: PendingStepUp): Promise<void> {
  if (pending.enrolled) {
    await finishLogin(ctx, deps, pending, pending.enrolled);
    return;
  }
  const decision = await decide(deps, interaction, pending);
  if ('unmet' in decision) return finishUnmet(ctx, deps);
  if (!decision.required) {
    // Nothing (more) to prove. A password proven here logs in at the password level; a signed-in session keeps
    // its own level (never downgraded by a page that turned out unnecessary).
    if (pending.passwordHere || !interaction.session?.acr) return finishLogin(ctx, deps, pending, undefined);
    return finishInteraction(ctx, deps.provider, {
      login: { accountId: pending.accountId, acr: interaction.session.acr, amr: [...pending.amr], remember: pending.remember },
    }, { mergeWithLastSubmission: false });
  }
  if (decision.enrol) return showEnrolment(ctx, deps, interaction, pending, decision.level, { choose: ctx.query.enrol === 'choose' });
  const method = typeof ctx.query.method === 'string' ? ctx.query.method : undefined;
  return renderChallenge(ctx, deps, interaction, pending, decision.level, method ? { method } : {});
}
