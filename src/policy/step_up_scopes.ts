/**
 * Step-up scopes (docs/ARCHITECTURE.md "The step-up decision"): `invoice` stands for a customer who proved a fresh
 * second factor. Every grant path records it as *rejected* unless the step-up policy allows it for this request
 * (`grantScopesWithStepUp`, fed by `grantableStepUpScopes`): the shop's request still completes, the scope is simply
 * not in the tokens — never a silent grant on a password session.
 */
import type { Grant } from 'oidc-provider';

export const STEP_UP_SCOPES: ReadonlySet<string> = new Set(['invoice']);

export function isStepUpScope(scope: string): boolean {
  return STEP_UP_SCOPES.has(scope);
}

/**
 * Adds `scopes` to `grant` (OIDC scopes, or an API's scopes with `indicator`), rejecting the step-up scopes among
 * them so oidc-provider's consent prompt counts them as answered.
 */
export function grantScopesWithoutStepUp(grant: Grant, scopes: Iterable<string>, indicator?: string): void {
  const list = [...scopes];
  const granted = list.filter((scope) => !isStepUpScope(scope)).join(' ');
  const rejected = list.filter(isStepUpScope).join(' ');
  if (indicator === undefined) {
    if (granted) grant.addOIDCScope(granted);
    if (rejected) grant.rejectOIDCScope(rejected);
  } else {
    if (granted) grant.addResourceScope(indicator, granted);
    if (rejected) grant.rejectResourceScope(indicator, rejected);
  }
}

function withoutWords(list: string | undefined, remove: readonly string[]): string | undefined {
  if (!list) return list;
  const kept = list.split(' ').filter((word) => word && !remove.includes(word));
  return kept.length > 0 ? kept.join(' ') : undefined;
}

/**
 * Like {@link grantScopesWithoutStepUp}, but the step-up scopes in `allowed` (the policy said yes for this request)
 * are granted — taken out of the rejected set first — and the others rejected.
 */
export function grantScopesWithStepUp(grant: Grant, scopes: Iterable<string>, allowed: ReadonlySet<string>, indicator?: string): void {
  const list = [...scopes];
  const allowedHere = list.filter((scope) => isStepUpScope(scope) && allowed.has(scope));
  grantScopesWithoutStepUp(grant, list.filter((scope) => !allowedHere.includes(scope)), indicator);
  if (allowedHere.length === 0) return;
  const rejected = (grant as { rejected?: { openid?: { scope?: string }; resources?: Record<string, string | undefined> } }).rejected;
  if (indicator === undefined) {
    if (rejected?.openid) rejected.openid.scope = withoutWords(rejected.openid.scope, allowedHere);
    grant.addOIDCScope(allowedHere.join(' '));
  } else {
    if (rejected?.resources) rejected.resources[indicator] = withoutWords(rejected.resources[indicator], allowedHere);
    grant.addResourceScope(indicator, allowedHere.join(' '));
  }
}

/**
 * For a grant the customer consented to earlier (a third-party shop): of the requested step-up `scopes`, those the
 * policy does not allow now are rejected (a privilege withdrawn, no fresh second factor: not in this request's tokens),
 * those it allows are taken out of the rejected set again (granted if consented, else the consent page asks). Nothing
 * else of the grant changes. Returns whether the grant changed.
 */
export function limitStepUpScopes(grant: Grant, scopes: Iterable<string>, allowed: ReadonlySet<string>, indicator?: string): boolean {
  const stepUp = [...scopes].filter(isStepUpScope);
  const refused = stepUp.filter((scope) => !allowed.has(scope));
  const allowedHere = stepUp.filter((scope) => allowed.has(scope));
  const rejected = (grant as { rejected?: { openid?: { scope?: string }; resources?: Record<string, string | undefined> } }).rejected;
  const before = JSON.stringify(rejected ?? null);
  if (indicator === undefined) {
    if (rejected?.openid) rejected.openid.scope = withoutWords(rejected.openid.scope, allowedHere);
    if (refused.length > 0) grant.rejectOIDCScope(refused.join(' '));
  } else {
    if (rejected?.resources) rejected.resources[indicator] = withoutWords(rejected.resources[indicator], allowedHere);
    if (refused.length > 0) grant.rejectResourceScope(indicator, refused.join(' '));
  }
  const after = (grant as { rejected?: unknown }).rejected;
  return JSON.stringify(after ?? null) !== before;
}
