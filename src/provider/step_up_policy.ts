/**
 * The step-up check in oidc-provider's interaction policy (DESIGN.md §4). oidc-provider alone treats `acr_values` as a
 * voluntary claim (a silent downgrade) and re-prompts an essential `acr` by exact string match; we compare levels:
 * the built-in `essential_acr`/`essential_acrs` checks are removed and `mfa_required` added to the `login` prompt.
 *
 * `new Check(reason, description, error, check)`: the error is passed explicitly (`login_required`) because checks
 * added after the Prompt is built get no default, and `prompt=none` must answer `login_required` (never a silent
 * downgrade). The check only reads (checks run concurrently).
 */
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { LEVEL } from '../policy/acr.ts';
import { requestedAcrLevel } from '../policy/step_up.ts';
import { evaluateStepUp, requestFromParams, type StepUpDeps, type StepUpRequest } from '../policy/step_up_inputs.ts';

/** The check's reason (wire-visible in `prompt.reasons`). */
export const MFA_REQUIRED_REASON = 'mfa_required';

/** The step-up request of an authorization request in progress. */
export function stepUpRequestOf(ctx: KoaContextWithOIDC, accountId: string): StepUpRequest {
  const { oidc } = ctx;
  const params = (oidc.params ?? {}) as Record<string, unknown>;
  const defaults = (oidc.client?.defaultAcrValues ?? []) as readonly string[];
  return {
    accountId,
    sessionUid: oidc.session?.uid,
    sessionAcr: oidc.session?.acr,
    ...requestFromParams(params, defaults),
  };
}

/** oidc-provider's base policy with the level-comparing step-up check on the `login` prompt. */
export function buildInteractionPolicy(deps: StepUpDeps): interactionPolicy.DefaultPolicy {
  const { Check, base } = interactionPolicy;
  const policy = base();
  const login = policy.get('login');
  if (!login) throw new Error('oidc-provider base policy has no login prompt');
  login.checks.remove('essential_acr');
  login.checks.remove('essential_acrs');
  login.checks.add(new Check(
    MFA_REQUIRED_REASON,
    'a stronger authentication (second factor) is required',
    'login_required',
    async (ctx: KoaContextWithOIDC) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId) {
        // No session yet: the password step decides with the account known; say now whatever the request alone needs.
        const request = stepUpRequestOf(ctx, '');
        return requestedAcrLevel(request) >= LEVEL.mfa ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      }
      const decision = await evaluateStepUp(deps, stepUpRequestOf(ctx, accountId));
      return 'unmet' in decision || decision.required ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    },
  ));
  return policy;
}
