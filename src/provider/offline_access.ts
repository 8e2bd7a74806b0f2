/**
 * Refresh tokens for first-party shops without a consent page (docs/ARCHITECTURE.md "Grants and refresh tokens";
 * requests sent by POST or pushed keep oidc-provider's rule: their parameters are read after this point).
 * OIDC Core §11 asks for `prompt=consent` with `offline_access` "unless other conditions for processing the request
 * permitting offline access to the requested resources are in place"; a first-party shop — the operator's own, which
 * signs its customers in without a consent page anyway — is such a condition. Third-party shops keep the consent page.
 *
 * oidc-provider drops `offline_access` from every request without `prompt=consent` while it checks the scope, before
 * the grant is loaded. So the request's own words are read first: on the authorization endpoint (GET), before
 * oidc-provider parses the query, whether it asked for `offline_access` is put in an extra parameter (any value the
 * client sent there is replaced), which oidc-provider keeps with the interaction, so it reaches the resume too. When
 * the first-party grant is loaded, `offline_access` goes back into the request's scope and the grant: the code carries
 * it, and oidc-provider's own rules then issue a refresh token that does not end with the browser session — never
 * with a step-up scope (`issueRefreshToken` in `step_up_configuration.ts`).
 */
import type { Grant, KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';

/** The extra authorization parameter carrying "the request asked for offline_access". */
export const OFFLINE_ACCESS_ASKED_PARAM = 'offline_access_asked';
const OFFLINE_ACCESS = 'offline_access';

const keeping = new WeakSet<Provider>();

function words(value: unknown): string[] {
  return typeof value === 'string' ? value.split(' ').filter(Boolean) : [];
}

/** Notes, on `provider`'s authorization endpoint at `authorizationPath`, whether a request asked for offline_access. */
export function keepOfflineAccessAsked(provider: Provider, authorizationPath: string): void {
  if (keeping.has(provider)) return;
  keeping.add(provider);
  provider.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === authorizationPath) {
      const { [OFFLINE_ACCESS_ASKED_PARAM]: _sent, ...query } = ctx.query;
      ctx.query = words(query.scope).includes(OFFLINE_ACCESS) ? { ...query, [OFFLINE_ACCESS_ASKED_PARAM]: 'true' } : query;
    }
    await next();
  });
}

/**
 * For a first-party shop's request that asked for offline_access (and may use refresh tokens with a code): puts it back
 * into the request's scope and `grant`. Returns whether it did.
 */
export function restoreOfflineAccess(ctx: KoaContextWithOIDC, grant: Grant): boolean {
  const { params, client } = ctx.oidc;
  if (!params || !client || params[OFFLINE_ACCESS_ASKED_PARAM] !== 'true') return false;
  if (!client.grantTypeAllowed('refresh_token') || !words(params.response_type).includes('code')) return false;
  const scope = words(params.scope);
  if (!scope.includes(OFFLINE_ACCESS)) params.scope = [...scope, OFFLINE_ACCESS].join(' ');
  grant.addOIDCScope(OFFLINE_ACCESS);
  return true;
}
