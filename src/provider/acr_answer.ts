/**
 * The acr answer (docs/ARCHITECTURE.md "Assurance levels and `amr`"): when a request names acr values — an essential
 * or voluntary `acr` in `claims`, `acr_values`, the client's `default_acr_values` — the authorization code, and so
 * the ID token, the refresh token's ID tokens, the JWT access token and introspection, carry the strongest *requested*
 * value the authentication satisfies. Relying parties compare `acr` as a string (OIDC Core §5.5.1.1 makes it a MUST
 * for essential values): a shop asking `urn:oidc-stepup:acr:mfa` whose customer used an authenticator app
 * (`mfa-app`) gets `mfa`, a shop asking the PAPE alias gets the alias. With no value named, the level reached.
 * `amr` keeps saying what was done.
 *
 * oidc-provider takes a token's `acr` from its request context (`ctx.oidc.acr`, the session's value); the context
 * class is per provider (`provider.OIDCContext`), so answering there changes that provider only. The level reached
 * is the one the step-up checks proved for this very request (`src/authentication/`), not the session's stored value,
 * which may name a level whose proofs no longer count (an abandoned `prompt=login`, `max_age`).
 */
import type Provider from 'oidc-provider';
import { defaultAcrPolicy, type AcrPolicy } from '../policy/acr.ts';
import { namedAcrValues } from '../policy/step_up_params.ts';
import { levelProvenFor } from './step_up_policy.ts';

const answering = new WeakSet<object>();

interface ContextLike {
  readonly ctx: { readonly req: object };
  readonly params?: Record<string, unknown>;
  readonly client?: { readonly defaultAcrValues?: readonly string[] };
}

/** Makes `provider` answer `acr` with the strongest requested value its authentication satisfies (idempotent). */
export function answerRequestedAcr(provider: Provider, acr: AcrPolicy = defaultAcrPolicy): void {
  const prototype = provider.OIDCContext.prototype as object;
  if (answering.has(prototype)) return;
  const sessionAcr = Object.getOwnPropertyDescriptor(prototype, 'acr')?.get;
  if (!sessionAcr) throw new Error('oidc-provider\'s request context has no acr getter: the acr answer cannot be installed');
  answering.add(prototype);
  Object.defineProperty(prototype, 'acr', {
    configurable: true,
    get(this: ContextLike): string | undefined {
      const stored = sessionAcr.call(this) as string | undefined;
      const level = levelProvenFor(this.ctx.req) ?? acr.levelOf(stored);
      if (level === undefined) return stored;
      return acr.answer(level, namedAcrValues(this.params ?? {}, this.client?.defaultAcrValues ?? [])) ?? stored;
    },
  });
}
