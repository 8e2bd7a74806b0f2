/**
 * Step-up scopes (DESIGN.md §4): `invoice` stands for a customer who proved a fresh second factor. Until the
 * step-up policy grants it after that proof, every grant path (first-party grants, the consent page) records it as
 * *rejected*: the shop's request still completes, the scope is simply not in the tokens — never a silent grant
 * on a password session.
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
