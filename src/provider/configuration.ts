/**
 * The oidc-provider configuration: which protocol features are on, the claims and acr values it speaks,
 * where interactions and errors render, where it stores things and with which keys.
 */
import { grantScopesWithStepUp, isStepUpScope } from '../policy/step_up_scopes.ts';
import { randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';
import Provider, {
  errors,
  type Configuration,
  type ErrorOut,
  type Grant,
  type KoaContextWithOIDC,
  type ResourceServer,
} from 'oidc-provider';
import type { Config } from '../config/index.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { grantableScopes, type StepUpDeps } from '../policy/step_up_inputs.ts';
import { recordSecondFactor } from '../policy/second_factor_times.ts';
import { buildInteractionPolicy, stepUpRequestOf } from './step_up_policy.ts';
import type { Views } from '../http/views.ts';
import { allowFormActions } from '../http/security_headers.ts';
import type { Logger } from '../shared/logger.ts';
import { ACR_VALUES } from './acr.ts';
import { createMongoAdapter } from './adapter.ts';
import { FIRST_PARTY_PROPERTY } from './clients.ts';
import { createFindAccount } from './find_account.ts';
import type { ProviderKeys } from './keys.ts';

/** Where interactions live; the `_interaction` cookie is scoped to this path, so every step's route sits below it. */
export const INTERACTION_PATH = '/interaction';

/** Scopes besides those the `claims` map defines (`email`, `profile`). `invoice` is the step-up scope (DESIGN.md §4). */
export const SCOPES = ['openid', 'offline_access', 'invoice'] as const;


/**
 * Refuses a client-credentials token carrying a step-up scope (`invalid_scope`). oidc-provider picks those scopes
 * from the request, checked only against the client's `scope` (`validateClientScope`) and, with `resource`, the
 * API's scopes; neither knows which scopes need a customer.
 */
export function refuseStepUpClientCredentials(scope: string | undefined): void {
  // Step-up scopes stand for a customer who proved a second factor: no customer is behind this token.
  const refused = (scope ?? '').split(' ').filter(isStepUpScope);
  if (refused.length > 0) {
    throw new errors.InvalidScope('a step-up scope is never issued through client credentials', refused.join(' '));
  }
}

/**
 * Claims per scope. `acr`, `amr` and `auth_time` sit under `openid` so every ID token carries them
 * (oidc-provider's default map holds only `sub`, which silently drops them).
 */
export const CLAIMS = {
  openid: ['sub', 'acr', 'amr', 'auth_time'],
  email: ['email', 'email_verified'],
  profile: ['name'],
} as const;

export interface ProviderDeps {
  config: Config;
  conn: Connection;
  keys: ProviderKeys;
  views: Views;
  logger: Logger;
  /** The second factors; without them no account holds a factor (step-ups are unmet or need enrolment). */
  factors?: FactorRegistry;
}

/** What a finished step-up adds to the interaction's login result, so the session's second-factor time is recorded. */
export interface StepUpResult {
  readonly level: number;
  /** Epoch seconds. */
  readonly at: number;
}

/** True for a client registered with `first_party: true` (it skips the consent page). */
export function isFirstParty(client: { [key: string]: unknown } | undefined): boolean {
  return client?.[FIRST_PARTY_PROPERTY] === true;
}

/** The CSP nonce of the current response (set by the security-headers middleware; a fresh one otherwise). */
export function cspNonceOf(ctx: { state: Record<string, unknown> }): string {
  if (typeof ctx.state.cspNonce !== 'string') ctx.state.cspNonce = randomBytes(16).toString('base64');
  return ctx.state.cspNonce as string;
}

const ERROR_HEADINGS: Record<string, string> = {
  invalid_client: 'This shop is not registered',
  invalid_redirect_uri: 'The shop sent an invalid return address',
  invalid_request: 'The sign-in request is invalid',
  invalid_scope: 'The shop asked for something it may not',
  unauthorized_client: 'This shop may not sign in this way',
  unsupported_response_type: 'The sign-in request is invalid',
  invalid_target: 'The shop asked for an unknown service',
  server_error: 'Something went wrong on our side',
};

/** oidc-provider's `renderError`: our error page, the OAuth error code and its description, never a stack trace. */
function createRenderError(views: Views): NonNullable<Configuration['renderError']> {
  return function renderError(ctx, out: ErrorOut) {
    const code = typeof out.error === 'string' ? out.error : 'server_error';
    const serverSide = ctx.status >= 500;
    ctx.type = 'html';
    ctx.body = views.render('error', {
      title: 'Sign-in error',
      cspNonce: cspNonceOf(ctx),
      heading: ERROR_HEADINGS[code] ?? 'The sign-in could not continue',
      message: serverSide ? 'Please try again in a moment.' : (out.error_description ?? 'The request could not be processed.'),
      hint: 'Go back to the shop and start the sign-in again. If this keeps happening, tell the shop.',
      code,
    });
  };
}

/**
 * Consent is skipped for first-party clients: their grant is made (or topped up) here with everything they
 * asked for, step-up scopes only when the step-up policy allows them for this request. Third-party clients get the
 * consent page for anything not yet granted. A login result carrying a finished step-up records the session's
 * second-factor time first (this runs after resume, before the interaction policy checks).
 */
function createLoadExistingGrant(deps: StepUpDeps): (ctx: KoaContextWithOIDC) => Promise<Grant | undefined> {
  return async function loadExistingGrant(ctx) {
    const { client, session, provider } = ctx.oidc;
    if (!client || !session?.accountId) return undefined;
    const login = ctx.oidc.result?.login as ({ accountId?: string; stepUp?: StepUpResult } | undefined);
    if (login?.stepUp && login.accountId === session.accountId) {
      await recordSecondFactor(deps.conn, session.uid, session.accountId, login.stepUp.level, new Date(login.stepUp.at * 1000));
    }
    const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
    let grant = grantId ? await provider.Grant.find(grantId) : undefined;
    if (grant && (grant.accountId !== session.accountId || grant.clientId !== client.clientId)) grant = undefined;
    if (!isFirstParty(client)) return grant;

    grant ??= new provider.Grant({ accountId: session.accountId, clientId: client.clientId });
    const requested = new Set(ctx.oidc.requestParamScopes);
    const allowed = [...requested].some(isStepUpScope)
      ? new Set(await grantableScopes(deps, stepUpRequestOf(ctx, session.accountId)))
      : new Set<string>();
    grantScopesWithStepUp(grant, ctx.oidc.requestParamOIDCScopes, allowed);
    const claims = [...ctx.oidc.requestParamClaims];
    if (claims.length > 0) grant.addOIDCClaims(claims);
    for (const [indicator, resourceServer] of Object.entries(ctx.oidc.resourceServers ?? {})) {
      const resourceScopes = [...resourceServer.scopes].filter((scope) => requested.has(scope));
      if (resourceScopes.length > 0) grantScopesWithStepUp(grant, resourceScopes, allowed, indicator);
    }
    await grant.save();
    return grant;
  };
}

/** The oidc-provider configuration object (exported so an existing deployment can reuse or extend it). */
export function buildProviderConfiguration(deps: ProviderDeps): Configuration {
  const { config, conn, keys, views } = deps;
  const ttl = config.ttl;

  const getResourceServerInfo = (_ctx: KoaContextWithOIDC, indicator: string): ResourceServer => {
    const server = config.resourceServers[indicator];
    if (!server) throw new errors.InvalidTarget();
    return {
      scope: server.scope,
      audience: server.audience,
      accessTokenFormat: server.accessTokenFormat,
      accessTokenTTL: server.accessTokenTTL ?? ttl.accessTokenSeconds,
    };
  };

  return {
    // No `clockTolerance` is set here: oidc-provider's default (15 s) applies to JWTs it verifies, while its models
    // expire entities at `exp` exactly, as the adapter does. If one is configured for the models' sake, pass it to
    // the adapter too (`createMongoAdapter(conn, { clockToleranceSeconds })`).
    adapter: createMongoAdapter(conn),
    findAccount: createFindAccount(conn),
    jwks: structuredClone(keys.jwks) as Configuration['jwks'],
    cookies: { keys: [...keys.cookieKeys] },

    acrValues: [...ACR_VALUES],
    claims: Object.fromEntries(Object.entries(CLAIMS).map(([scope, names]) => [scope, [...names]])),
    scopes: [...SCOPES],
    responseTypes: ['code'],
    pkce: { required: () => true },
    extraClientMetadata: {
      properties: [FIRST_PARTY_PROPERTY],
      validator(_ctx, key, value) {
        if (key === FIRST_PARTY_PROPERTY && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata(`${FIRST_PARTY_PROPERTY} must be a boolean`);
        }
      },
    },

    features: {
      devInteractions: { enabled: false },
      // Essential `acr` requests (OIDC Core §5.5.1.1); judged by level in `step_up_policy.ts`.
      claimsParameter: { enabled: true },
      userinfo: { enabled: true },
      revocation: {
        enabled: true,
        // A shop revokes only its own tokens.
        allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId,
      },
      introspection: {
        enabled: true,
        // A shop introspects only its own tokens: another shop learns nothing about this user (inactive).
        allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId,
      },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => oneOf ?? undefined,
        // Without `resource` at the token endpoint a login gets a userinfo token; the API token needs `resource`.
        useGrantedResource: () => false,
        getResourceServerInfo,
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource(ctx, form) {
          const target = ctx.oidc.params?.post_logout_redirect_uri;
          if (typeof target === 'string') allowFormActions(ctx, [target]);
          ctx.type = 'html';
          ctx.body = views.render('logout', {
            title: 'Sign out',
            cspNonce: cspNonceOf(ctx),
            form,
            clientName: ctx.oidc.client?.clientName,
          });
        },
        postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = views.render('logout_success', {
            title: 'Signed out',
            cspNonce: cspNonceOf(ctx),
            clientName: ctx.oidc.client?.clientName,
          });
        },
      },
    },

    // RFC 9470: the shop's API reads acr/amr/auth_time from the access token (JWT) or introspection (opaque).
    // Also the last hook before a client-credentials token is stored: it refuses step-up scopes there.
    extraTokenClaims(ctx, token) {
      if (token.kind === 'ClientCredentials') {
        refuseStepUpClientCredentials(token.scope);
        return undefined;
      }
      if (token.kind !== 'AccessToken') return undefined;
      const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
      if (!source) return undefined;
      return { acr: source.acr, amr: source.amr, auth_time: source.authTime };
    },
    // Browsers may call userinfo (any shop) and the token endpoint (public clients) only from a shop's own origins.
    clientBasedCORS(ctx, origin, client) {
      if (origin === 'null') return false;
      if (ctx.oidc.route !== 'userinfo' && client.clientAuthMethod !== 'none') return false;
      return (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin);
    },
    // No refresh token for a code carrying a step-up scope: it would mint `invoice` access tokens long after the
    // second factor stopped being fresh (15 minutes); the shop steps up again instead.
    issueRefreshToken: (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access')
      && ![...code.scopes].some(isStepUpScope),
    loadExistingGrant: createLoadExistingGrant({ conn, factors: deps.factors }),
    interactions: {
      policy: buildInteractionPolicy({ conn, factors: deps.factors }),
      url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}`,
    },
    renderError: createRenderError(views),

    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.accessTokenSeconds,
      AuthorizationCode: ttl.authorizationCodeSeconds,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.clientCredentialsSeconds,
      IdToken: ttl.idTokenSeconds,
      RefreshToken: (ctx, token, client) => {
        // A rotated refresh token of a public browser client never outlives the one it replaces (oidc-provider default).
        const rotated = ctx?.oidc?.entities.RotatedRefreshToken;
        if (rotated && client.applicationType === 'web' && client.clientAuthMethod === 'none' && !token.isSenderConstrained()) {
          return rotated.remainingTTL;
        }
        return ttl.refreshTokenSeconds;
      },
      Interaction: ttl.interactionSeconds,
      Session: ttl.sessionSeconds,
      Grant: ttl.grantSeconds,
      // Features that are off; set so oidc-provider logs no default-TTL notices.
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
      PreAuthorizedCode: 600,
    },
  };
}

/** A configured Provider (a Koa app) with `proxy` from config and its error events logged without secrets. */
export function createProvider(deps: ProviderDeps): Provider {
  const provider = new Provider(deps.config.issuer, buildProviderConfiguration(deps));
  provider.proxy = deps.config.trustProxy;
  const log = deps.logger.child({ component: 'provider' });
  provider.on('server_error', (ctx: KoaContextWithOIDC, err: Error) => {
    log.error({ err, path: ctx.path, method: ctx.method }, 'provider server error');
  });
  const logOAuthError = (event: string) => (ctx: KoaContextWithOIDC, err: errors.OIDCProviderError): void => {
    log.info({ event, error: err.error, description: err.error_description, detail: (err as { error_detail?: string }).error_detail, clientId: ctx.oidc?.client?.clientId }, 'oauth error');
  };
  provider.on('authorization.error', logOAuthError('authorization.error'));
  provider.on('grant.error', logOAuthError('grant.error'));
  provider.on('end_session.error', logOAuthError('end_session.error'));
  provider.on('introspection.error', logOAuthError('introspection.error'));
  provider.on('revocation.error', logOAuthError('revocation.error'));
  provider.on('userinfo.error', logOAuthError('userinfo.error'));
  return provider;
}
