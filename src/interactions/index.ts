import Router from '@koa/router';
import type { Middleware } from 'koa';
import { saveHeldProofsOf } from '../authentication/request_state.ts';
import { INTERACTION_PATH } from '../policy/interaction.ts';
import { formParser, requireForm } from '../http/forms.ts';
import { AppError } from '../shared/errors.ts';
import { submitAbort } from './abort.ts';
import { showConsent, submitConsent } from './consent.ts';
import { loadInteraction, type InteractionDeps } from './context.ts';
import { showLogin, submitLogin } from './login.ts';
import { submitContinue, submitEnrol, submitEnrolMethod, submitEnrolPassword, submitEnrolRenew, submitEnrolSend } from './enrol.ts';
import { methodChoiceOf, submitChallenge, submitSend } from './challenge.ts';
import { submitReplace, submitReplaceConfirm, submitReplaceRenew } from './recovered.ts';
import { showStepUp } from './step_up.ts';
import { pendingStepUpOf } from './step_up_state.ts';

export type { InteractionDeps } from './context.ts';
export { createCsrfTokens, type CsrfTokens } from './csrf.ts';

/** Interaction ids are oidc-provider nanoids; anything else is refused before touching the store. */
const UID = /^[A-Za-z0-9_-]{1,64}$/;

function checkUid(): Middleware {
  return async function checkInteractionUid(ctx, next) {
    const uid = (ctx as unknown as { params?: { uid?: string } }).params?.uid;
    if (!uid || !UID.test(uid)) {
      throw new AppError('interaction_not_found', 'This sign-in page has expired or is not valid. Go back to the shop and start the sign-in again.', { status: 400 });
    }
    await next();
  };
}

/**
 * The interaction routes, all below `/interaction/:uid` because oidc-provider scopes the `_interaction` cookie
 * to that path. GET shows the current step (login or consent); each POST handles one step.
 */
export function interactionRouter(interactionDeps: InteractionDeps): Router {
  // The customers' primary-method choice (`src/factors/method_choice.ts`), created once for all requests.
  const methodChoice = methodChoiceOf(interactionDeps);
  const deps: InteractionDeps = { ...interactionDeps, ...(methodChoice ? { methodChoice } : {}) };
  const router = new Router({ prefix: INTERACTION_PATH });
  const parseForm = formParser();

  // A step that recorded a proof for a browser without a session and saved nothing after it saves the interaction now.
  router.use(async function saveHeldProofs(ctx, next) {
    await next();
    await saveHeldProofsOf(ctx.req);
  });
  router.get('/:uid', checkUid(), async function showInteraction(ctx) {
    const interaction = await loadInteraction(ctx, deps.provider);
    switch (interaction.prompt.name) {
      case 'login': {
        const pending = pendingStepUpOf(interaction);
        return pending ? showStepUp(ctx, deps, interaction, pending) : showLogin(ctx, deps, interaction);
      }
      case 'consent':
        return showConsent(ctx, deps, interaction);
      default:
        throw new AppError('unsupported_prompt', 'This sign-in step is not available. Go back to the shop and start again.', { status: 400 });
    }
  });
  router.post('/:uid/login', checkUid(), requireForm(), parseForm, (ctx) => submitLogin(ctx, deps));
  router.post('/:uid/mfa', checkUid(), requireForm(), parseForm, (ctx) => submitChallenge(ctx, deps));
  router.post('/:uid/mfa/send', checkUid(), requireForm(), parseForm, (ctx) => submitSend(ctx, deps));
  router.post('/:uid/mfa/continue', checkUid(), requireForm(), parseForm, (ctx) => submitContinue(ctx, deps));
  router.post('/:uid/enrol', checkUid(), requireForm(), parseForm, (ctx) => submitEnrol(ctx, deps));
  router.post('/:uid/enrol/renew', checkUid(), requireForm(), parseForm, (ctx) => submitEnrolRenew(ctx, deps));
  router.post('/:uid/enrol/method', checkUid(), requireForm(), parseForm, (ctx) => submitEnrolMethod(ctx, deps));
  router.post('/:uid/enrol/password', checkUid(), requireForm(), parseForm, (ctx) => submitEnrolPassword(ctx, deps));
  router.post('/:uid/enrol/send', checkUid(), requireForm(), parseForm, (ctx) => submitEnrolSend(ctx, deps));
  router.post('/:uid/replace', checkUid(), requireForm(), parseForm, (ctx) => submitReplace(ctx, deps));
  router.post('/:uid/replace/renew', checkUid(), requireForm(), parseForm, (ctx) => submitReplaceRenew(ctx, deps));
  router.post('/:uid/replace/confirm', checkUid(), requireForm(), parseForm, (ctx) => submitReplaceConfirm(ctx, deps));
  router.post('/:uid/confirm', checkUid(), requireForm(), parseForm, (ctx) => submitConsent(ctx, deps));
  router.post('/:uid/abort', checkUid(), requireForm(), parseForm, (ctx) => submitAbort(ctx, deps));
  return router;
}
