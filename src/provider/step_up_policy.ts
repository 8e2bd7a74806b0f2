/**
 * The step-up checks in oidc-provider's interaction policy. oidc-provider alone treats `acr_values` as a voluntary
 * claim (a silent downgrade), re-prompts an essential `acr` by exact string match and judges `max_age` by the one login
 * time of the session; we judge the session by its authentication state (`src/authentication/`):
 * - `session_outdated`: the session's proofs are gone, belong to another account or an older credentials epoch (a
 *   password change, a reset, a disable happened since), or the password is older than the request's `max_age` —
 *   the customer signs in again with the password;
 * - `mfa_required`: the step-up decision (levels compared, not strings) asks for a second factor or an enrolment.
 * The built-in `essential_acr`/`essential_acrs` checks are removed.
 *
 * `new Check(reason, description, error, check)`: the error is passed explicitly (`login_required`) because checks
 * added after the Prompt is built get no default, and `prompt=none` must answer `login_required` (never a silent
 * downgrade). The checks only read (they run concurrently), through the per-request loader.
 */
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { adoptHeldProofs, evaluateStepUp, type AuthenticationDeps, type StepUpEvaluation } from '../authentication/request_state.ts';
import type { ProofWindow } from '../authentication/state.ts';
import { LEVEL } from '../policy/acr.ts';
import { requestedAcrLevel } from '../policy/step_up.ts';
import { MFA_REQUIRED_REASON, SESSION_OUTDATED_REASON } from '../policy/interaction.ts';
import { maxAgeSince, requestFromParams } from '../policy/step_up_params.ts';


/**
 * Which proofs count for the request: with `max_age`, those newer than the request minus `max_age` — when resuming an
 * interaction, the request is the interaction's (its `iat` is in whole seconds: the end of that second is taken) and
 * the proofs made in that very interaction count whatever their time.
 */
function proofWindow(ctx: KoaContextWithOIDC): ProofWindow {
  const params = (ctx.oidc.params ?? {}) as Record<string, unknown>;
  const interaction = ctx.oidc.entities.Interaction as { iat?: number; uid?: string } | undefined;
  if (typeof interaction?.iat !== 'number') return { since: maxAgeSince(params, new Date()) };
  return { since: maxAgeSince(params, new Date(interaction.iat * 1000 + 999)), interaction: interaction.uid };
}

/** The level the step-up checks proved for a request, by its `req` (read by the acr answer when a token is made). */
const provenLevels = new WeakMap<object, number>();

/** The level the authentication state proves for the authorization request `request`, once its checks ran. */
export function levelProvenFor(request: object): number | undefined {
  return provenLevels.get(request);
}

/**
 * The step-up evaluation of the authorization request in progress for the session's account (once per request). When
 * the request resumes a login whose interaction held the proofs (a browser that had no session), they become the
 * session's first (`src/authentication/held_proofs.ts`).
 */
export function evaluateAuthorization(deps: AuthenticationDeps, ctx: KoaContextWithOIDC, accountId: string): Promise<StepUpEvaluation> {
  const { oidc } = ctx;
  const params = (oidc.params ?? {}) as Record<string, unknown>;
  const sessionUid = oidc.session?.uid;
  const { result } = oidc as { result?: { login?: { accountId?: unknown } } };
  if (sessionUid && result?.login?.accountId === accountId) adoptHeldProofs(ctx.req, sessionUid, accountId, result);
  const evaluation = evaluateStepUp(deps, ctx.req, {
    accountId,
    holder: sessionUid ? { sessionUid } : undefined,
    params: requestFromParams(params, (oidc.client?.defaultAcrValues ?? []) as readonly string[]),
    window: proofWindow(ctx),
  });
  return evaluation.then((evaluated) => {
    provenLevels.set(ctx.req, evaluated.proven.level);
    return evaluated;
  });
}

/** oidc-provider's base policy with the authentication-state and step-up checks on the `login` prompt. */
export function buildInteractionPolicy(deps: AuthenticationDeps): interactionPolicy.DefaultPolicy {
  const { Check, base } = interactionPolicy;
  const policy = base();
  const login = policy.get('login');
  if (!login) throw new Error('oidc-provider base policy has no login prompt');
  login.checks.remove('essential_acr');
  login.checks.remove('essential_acrs');
  login.checks.add(new Check(
    SESSION_OUTDATED_REASON,
    'the session must authenticate again',
    'login_required',
    async (ctx: KoaContextWithOIDC) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId) return Check.NO_NEED_TO_PROMPT; // `no_session` asks for the sign-in
      const { current, proven } = await evaluateAuthorization(deps, ctx, accountId);
      return current && proven.level >= LEVEL.pwd ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    },
  ));
  login.checks.add(new Check(
    MFA_REQUIRED_REASON,
    'a stronger authentication (second factor) is required',
    'login_required',
    async (ctx: KoaContextWithOIDC) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId) {
        // No session yet: the password step decides with the account known; say now whatever the request alone needs.
        const request = requestFromParams((ctx.oidc.params ?? {}) as Record<string, unknown>, (ctx.oidc.client?.defaultAcrValues ?? []) as readonly string[]);
        return requestedAcrLevel(request) >= LEVEL.mfa ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      }
      const { decision } = await evaluateAuthorization(deps, ctx, accountId);
      return 'unmet' in decision || decision.required ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    },
  ));
  return policy;
}
