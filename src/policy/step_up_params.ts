/**
 * The step-up parameters of an authorization request (pure): `acr_values` (OIDC Core §3.1.2.1), the values of an
 * essential `acr` claim in the `claims` parameter (§5.5.1.1), the client's `default_acr_values` and the scopes.
 */

/** What the step-up decision reads of an authorization request. */
export interface StepUpParams {
  readonly acrValues: readonly string[];
  readonly essentialAcr: readonly string[];
  readonly defaultAcrValues: readonly string[];
  readonly scopes: readonly string[];
}

function words(value: unknown): string[] {
  return typeof value === 'string' ? value.split(' ').filter(Boolean) : [];
}

/** The `acr` claim request of a `claims` parameter (JSON text or object): its values and whether it is essential. */
function acrClaimOf(claims: unknown): { essential: boolean; values: string[] } {
  let parsed: unknown = claims;
  if (typeof claims === 'string') {
    try {
      parsed = JSON.parse(claims);
    } catch {
      return { essential: false, values: [] };
    }
  }
  const acr = (parsed as { id_token?: { acr?: { essential?: unknown; value?: unknown; values?: unknown } } } | undefined)?.id_token?.acr;
  if (!acr || typeof acr !== 'object') return { essential: false, values: [] };
  const values = typeof acr.value === 'string' ? [acr.value]
    : Array.isArray(acr.values) ? acr.values.filter((v): v is string => typeof v === 'string') : [];
  return { essential: acr.essential === true, values };
}

/** The essential `acr` values of a `claims` parameter (JSON text or object); none when absent or not essential. */
export function essentialAcrOf(claims: unknown): string[] {
  const acr = acrClaimOf(claims);
  return acr.essential ? acr.values : [];
}

/**
 * The acr values a request names, for the acr answer: the values of an essential `acr` claim when there is one (OIDC
 * Core §5.5.1.1: the answer MUST be one of them); otherwise those of a voluntary `acr` claim, `acr_values` and the
 * client's `default_acr_values` (a floor, see `requestedAcrLevel`), in that order.
 */
export function namedAcrValues(params: Record<string, unknown>, defaultAcrValues: readonly string[] = []): string[] {
  const claim = acrClaimOf(params.claims);
  if (claim.essential && claim.values.length > 0) return claim.values;
  return [...claim.values, ...words(params.acr_values), ...defaultAcrValues];
}

/** A request's step-up parameters from authorization parameters (`acr_values`, `claims`, `scope`). */
export function requestFromParams(params: Record<string, unknown>, defaultAcrValues: readonly string[] = []): StepUpParams {
  return { acrValues: words(params.acr_values), essentialAcr: essentialAcrOf(params.claims), defaultAcrValues, scopes: words(params.scope) };
}

/**
 * The time a proof must be newer than to count for a request with `max_age` (OIDC Core §3.1.2.1) received at
 * `requestedAt`; `undefined` without `max_age`.
 */
export function maxAgeSince(params: Record<string, unknown>, requestedAt: Date): Date | undefined {
  const raw = params.max_age;
  const seconds = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{1,10}$/.test(raw) ? Number(raw) : undefined;
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return undefined;
  return new Date(requestedAt.getTime() - seconds * 1000);
}
