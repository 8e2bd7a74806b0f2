/**
 * The ready server's oidc-provider configuration: which protocol features are on, where errors and logout pages
 * render, where it stores things and with which keys, its APIs and lifetimes. The composition root lays the step-up
 * layer over it (`createStepUp(...).configure`, the same call a plugin user makes) before the Provider is created.
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from 'mongoose';
import Provider, {
  errors,
  type Configuration,
  type ErrorOut,
  type KoaContextWithOIDC,
  type ResourceServer,
} from 'oidc-provider';
import type { Config } from '../config/index.ts';
import { clientNameIn, noteLanguageHints } from '../http/language.ts';
import { renderPage } from '../http/pages.ts';
import type { Views } from '../http/views.ts';
import { allowFormActions, allowInlineScript } from '../http/security_headers.ts';
import type { Logger } from '../shared/logger.ts';
import { createMongoAdapter } from './adapter.ts';
import type { ProviderKeys } from './keys.ts';

export interface ProviderDeps {
  config: Config;
  conn: Connection;
  keys: ProviderKeys;
  views: Views;
}

/** The CSP nonce of the current response (set by the security-headers middleware; a fresh one otherwise). */
/** The sign-out page's one script when the shop's request names the signed-in customer: it confirms the form. */
const AUTO_SUBMIT_LOGOUT = "document.addEventListener('DOMContentLoaded',function(){document.getElementById('op.logoutForm').submit()})";

export function cspNonceOf(ctx: { state: Record<string, unknown> }): string {
  if (typeof ctx.state.cspNonce !== 'string') ctx.state.cspNonce = randomBytes(16).toString('base64');
  return ctx.state.cspNonce as string;
}

/**
 * oidc-provider's `renderError`: our error page in the request's language (the shop's `ui_locales` when the request
 * got that far), the OAuth error code and its description, never a stack trace. The customer reads what to do; the
 * protocol's description (English, from oidc-provider) is for the shop's developers, under "details".
 */
function createRenderError(views: Views): NonNullable<Configuration['renderError']> {
  const known = new Set(views.languages.messageIds);
  return function renderError(ctx, out: ErrorOut) {
    const code = typeof out.error === 'string' ? out.error : 'server_error';
    const serverSide = ctx.status >= 500;
    noteLanguageHints(ctx, { uiLocales: ctx.oidc?.params?.ui_locales });
    const heading = known.has(`errors.oauth.${code}`) ? `errors.oauth.${code}` : 'errors.provider.heading';
    renderPage(ctx, views, 'error', {
      title: 'errors.provider.title',
      cspNonce: cspNonceOf(ctx),
      heading,
      message: serverSide ? 'errors.provider.message_server' : 'errors.provider.message',
      hint: 'errors.provider.hint',
      details: serverSide ? undefined : out.error_description,
      backUrl: '/account',
      backText: 'errors.provider.back',
      code,
    }, ctx.status);
  };
}

/** The server's oidc-provider configuration object, step-up included. */
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
    jwks: structuredClone(keys.jwks) as Configuration['jwks'],
    cookies: { keys: [...keys.cookieKeys] },
    // The account console (`/account`) signs in through this provider like any shop: a first-party static client
    // whose secret is derived from the cookie keys, so every instance agrees on it.

    responseTypes: ['code'],
    pkce: { required: () => true },
    features: {
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
          // The shop's request names this very sign-in: an id_token_hint oidc-provider validated (it ignores expiry), for
          // the session's account, unexpired and issued since this session signed in. Then no question: the browser
          // confirms by itself (OIDC RP-Initiated Logout §2 leaves asking to the provider); without script, one
          // button. Anything else — an old or leaked ID token, another customer's — is asked about.
          const hint = ctx.oidc.entities.IdTokenHint as { payload?: { sub?: unknown; exp?: unknown; iat?: unknown } } | undefined;
          const session = ctx.oidc.session as { accountId?: string; loginTs?: number } | undefined;
          const nowSeconds = Math.floor(Date.now() / 1000);
          const named = hint?.payload?.sub !== undefined && hint.payload.sub === session?.accountId
            && typeof hint.payload.exp === 'number' && hint.payload.exp > nowSeconds
            && typeof hint.payload.iat === 'number' && typeof session?.loginTs === 'number' && hint.payload.iat >= session.loginTs;
          // RP-Initiated Logout 1.0 §2: the shop may name the page's languages (`ui_locales`).
          noteLanguageHints(ctx, { uiLocales: ctx.oidc.params?.ui_locales });
          renderPage(ctx, views, 'logout', {
            title: 'logout.title',
            cspNonce: cspNonceOf(ctx),
            form,
            clientName: clientNameIn(ctx, ctx.oidc.client),
            autoSubmit: named ? allowInlineScript(ctx, AUTO_SUBMIT_LOGOUT) : undefined,
          });
        },
        postLogoutSuccessSource(ctx) {
          renderPage(ctx, views, 'logout_success', {
            title: 'logout.success.title',
            cspNonce: cspNonceOf(ctx),
            clientName: clientNameIn(ctx, ctx.oidc.client),
          });
        },
      },
    },

    // Browsers may call userinfo (any shop) and the token endpoint (public clients) only from a shop's own origins.
    clientBasedCORS(ctx, origin, client) {
      if (origin === 'null') return false;
      if (ctx.oidc.route !== 'userinfo' && client.clientAuthMethod !== 'none') return false;
      return (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin);
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

/**
 * A Provider (a Koa app) with `configuration` (the base of {@link buildProviderConfiguration}, the step-up layer laid
 * over it), `proxy` from config and its error events logged without secrets.
 */
export function createProvider(deps: { readonly config: Config; readonly logger: Logger }, configuration: Configuration): Provider {
  const provider = new Provider(deps.config.issuer, configuration);
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
