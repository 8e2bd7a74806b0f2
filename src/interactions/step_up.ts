/**
 * GET of a login interaction with a step-up in progress: the challenge, the enrolment inside the login, or the end of
 * the flow when nothing (more) is needed. The POST steps live in `challenge.ts` and `enrol.ts`.
 */
import type { Context } from 'koa';
import type { InteractionDeps, InteractionDetails } from './context.ts';
import { renderChallenge } from './challenge.ts';
import { showEnrolment } from './enrol.ts';
import { showRecovered } from './recovered.ts';
import { finishLogin, finishUnmet, restartSignIn } from './finish.ts';
import { evaluatePending, savePending, type PendingStepUp } from './step_up_state.ts';

/**
 * The challenge or the enrolment page, or the end of the flow when nothing (more) is needed. `options.save` stores
 * `pending` in the interaction first when a page follows (the password step: a login that ends here needs no pending
 * step-up stored).
 */
export async function showStepUp(
  ctx: Context, deps: InteractionDeps, interaction: InteractionDetails, pending: PendingStepUp, options: { save?: boolean } = {},
): Promise<void> {
  if (pending.enrolled) return finishLogin(ctx, deps, interaction, pending);
  if (pending.recovered) return showRecovered(ctx, deps, interaction, pending);
  const evaluation = await evaluatePending(ctx, deps, interaction, pending);
  const { account } = evaluation.facts;
  if (!account || !evaluation.current) return restartSignIn(ctx, deps, interaction);
  const { decision } = evaluation;
  if ('unmet' in decision) return finishUnmet(ctx, interaction);
  if (!decision.required) return finishLogin(ctx, deps, interaction, pending);
  if (options.save) await savePending(interaction, pending);
  const step = { interaction, pending, account, evaluation, level: decision.level, enrol: decision.enrol };
  if (decision.enrol) return showEnrolment(ctx, deps, step, { choose: ctx.query.enrol === 'choose' });
  const method = typeof ctx.query.method === 'string' ? ctx.query.method : undefined;
  return renderChallenge(ctx, deps, step, method ? { method } : {});
}
