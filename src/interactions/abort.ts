import type { Context } from 'koa';
import { finishInteraction, loadInteraction, type InteractionDeps } from './context.ts';
import { formBody } from '../http/forms.ts';

/** POST /interaction/:uid/abort — the user cancels: the shop receives `access_denied` (RFC 6749 §4.1.2.1). */
export async function submitAbort(ctx: Context, deps: InteractionDeps): Promise<void> {
  const interaction = await loadInteraction(ctx, deps.provider);
  deps.csrf.verify(interaction.uid, formBody(ctx).csrf);
  await finishInteraction(ctx, interaction, {
    error: 'access_denied',
    error_description: 'End-User aborted interaction',
  }, { mergeWithLastSubmission: false });
}
