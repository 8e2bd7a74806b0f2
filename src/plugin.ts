/**
 * `createStepUp`: step-up MFA for an oidc-provider deployment, in two calls (README "Adding step-up to an existing
 * oidc-provider (plugin)"). oidc-provider takes its configuration once, in its constructor, so the plugin works in two
 * phases:
 *
 *     const stepUp = createStepUp({ conn, issuerName: 'My Shop ID', secrets, mailer });
 *     await stepUp.ensureIndexes();
 *     const provider = new Provider(issuer, stepUp.configure({ adapter, jwks, cookies: { keys }, ... }));
 *     app.use(stepUp.middleware(provider));   // the login, second-factor and consent pages
 *     app.use(mount(provider));
 *
 * The ready server (`main.ts`) is built on the same calls. Accounts, factor enrolments, attempt counters and audit
 * records live in the given mongoose connection.
 */
import type { Middleware } from 'koa';
import compose from 'koa-compose';
import type { Connection } from 'mongoose';
import type Provider from 'oidc-provider';
import type { ClientMetadata, Configuration } from 'oidc-provider';
import { accountConsoleClient, ACCOUNT_PATH } from './console/client.ts';
import { ensurePolicyNoticeIndexes } from './console/company_notice.ts';
import { accountConsole } from './console/router.ts';
import { ACCOUNT_SESSIONS, ensureAccountSessionIndexes } from './console/session.ts';
import { ensureAccountIndexes } from './accounts/accounts.ts';
import { DEFAULT_AUDIT_RETENTION_DAYS, ensureAuditIndexes, type AuditLogOptions } from './audit/audit_log.ts';
import type { MfaPeppers } from './provider/mfa_secrets.ts';
import type { FactorRegistry } from './factors/registry.ts';
import { createDefaultFactors } from './factors/registry.ts';
import { METHOD_CHOICE_COLLECTION } from './factors/method_choice.ts';
import { createSecretBox } from './factors/shared/secret_box.ts';
import { type KeyRing } from './config/key_ring.ts';
import { ensureAttemptIndexes, type AttemptPolicy } from './factors/shared/attempts.ts';
import { errorBoundary } from './http/error_boundary.ts';
import { assets, isAssetPath } from './http/assets.ts';
import { securityHeaders } from './http/security_headers.ts';
import { createViews, type Views } from './http/views.ts';
import { LANGUAGE_PATH, languageRouter, useLanguages } from './http/language.ts';
import type { Languages } from './i18n/languages.ts';
import { createCsrfTokens, interactionRouter } from './interactions/index.ts';
import { createCodeMailer } from './mail/code_mailer.ts';
import type { MailLook } from './mail/templates.ts';
import type { Mailer } from './mail/transport.ts';
import { ensureProofIndexes } from './authentication/proofs.ts';
import { saveAdoptedProofs, type AuthenticationDeps } from './authentication/request_state.ts';
import { ensureFactorSetLeaseIndexes } from './factors/shared/factor_set_guard.ts';
import { answerRequestedAcr } from './provider/acr_answer.ts';
import { keepOfflineAccessAsked } from './provider/offline_access.ts';
import { INTERACTION_PATH } from './policy/interaction.ts';
import { applyStepUp, proofsKeepMsOf } from './provider/step_up_configuration.ts';
import { consoleReadPlan, readAlongFor, readPathsOf, readPlanFor, type ReadPaths } from './provider/read_plan.ts';
import { withRequestReads } from './store/request_reads.ts';
import { createSecurityEvents, type SecurityEvents } from './security/events.ts';
import type { SupportContact } from './shared/support.ts';
import type { Brand } from './shared/brand.ts';
import { ensureRateWindowIndexes } from './security/rate_windows.ts';
import { ensureResetLinkIndexes } from './accounts/password_reset_links.ts';
import { PASSWORD_RESET_PATH, passwordResetPages } from './password_reset/pages.ts';
import { createLogger, type Logger } from './shared/logger.ts';

/** What {@link createStepUp} needs: the connection, the factors' secrets (or a registry of your own), and optionally the issuer and a mailer. */
export interface StepUpOptions {
  /** The mongoose connection holding accounts, factors, attempt counters and audit records. */
  readonly conn: Connection;
  /** The name customers know: the issuer label in authenticator apps and the sender name of mails. */
  readonly issuerName: string;
  /**
   * The factors' secrets: `factorKeys` seals TOTP secrets (AES-256-GCM key ring, `FACTOR_KEYS`), `peppers` key the
   * hashes of recovery and email codes (derived from `MFA_PEPPER` by `deriveMfaPeppers`, or `resolveMfaSecrets`).
   * Needed unless {@link factors} is given.
   */
  readonly secrets?: { readonly factorKeys: KeyRing; readonly peppers: MfaPeppers };
  /** A registry of your own (e.g. with another factor) instead of the built-in factors. */
  readonly factors?: FactorRegistry;
  /**
   * Sends email codes and security notifications (`createMailer`). Without it there is no email-code factor and
   * no notification mail (audit records are still written by the pages that have them).
   */
  readonly mailer?: Mailer;
  /** Where customers get help (`SUPPORT_URL` / `SUPPORT_EMAIL` of the ready server): linked where they may be stuck. */
  readonly support?: SupportContact;
  /**
   * The shop's brand (`BRAND_*` of the ready server): its colour is served at `/assets/brand.css`; pass the same brand
   * to `createViews` so the pages show its name and logo, and to the mailer's templates through `issuerName`.
   */
  readonly brand?: Brand;
  /**
   * The provider's issuer URL. With it the customers' security console is served at `/account` (`configure` adds
   * its OIDC client, `account-console`) and notification mails link to it.
   */
  readonly issuer?: string;
  /**
   * Where the console redeems its authorization codes; default `<issuer>/token`. A server behind a load balancer
   * passes its own loopback address, so it never has to reach itself through the public URL.
   */
  readonly tokenEndpoint?: string;
  /** The pug views; default the package's `views/`. */
  readonly views?: Views;
  readonly logger?: Logger;
  /** Second-factor attempt limits (defaults: NIST SP 800-63B, at most 100 consecutive failures). */
  readonly attemptPolicy?: Partial<AttemptPolicy>;
}

/** The step-up layer of one deployment: lay it over the provider's configuration, mount its pages, create its indexes. */
export interface StepUp {
  /** The second factors in use. */
  readonly factors: FactorRegistry;
  readonly views: Views;
  /** Security events: the audit record, and the customer's mail when a mailer is configured. */
  readonly events: SecurityEvents;
  /**
   * Your oidc-provider configuration with the step-up parts laid over it: accounts (`findAccount`), acr values and
   * the claims carrying them, the `invoice` scope, the level-comparing interaction policy and its pages' URL,
   * first-party grants, RFC 9470 access-token claims, no refresh or client-credentials token for step-up scopes.
   * Throws if yours already sets `findAccount`, `loadExistingGrant`, `interactions.policy` or `interactions.url`.
   */
  configure(base: Configuration): Configuration;
  /**
   * The interaction pages (password, second factor, enrolment, consent) below `/interaction`; with `issuer`, the
   * security console below `/account`; with `issuer` and a `mailer`, the password reset by email below
   * `/password-reset` (linked from the sign-in page) — each with its error pages and security headers — and the pages'
   * assets: their one script at `/assets/page.js` (copy and print buttons; every page works without it) and, with a
   * brand colour, `/assets/brand.css`. Mount it before the provider;
   * it needs the provider's `cookies.keys`.
   */
  middleware(provider: Provider): Middleware;
  /**
   * Creates the indexes of the plugin's collections and sets the audit retention (default 400 days; `null` keeps
   * records forever); idempotent. Call it at start-up. Every collection holding temporary state gets its TTL index
   * here, so nothing anyone can make the server write outlives its use: the attempt counters (`factor_attempts`),
   * the console sessions (`account_sessions`), the password-reset links (`password_reset_links`) and request limits
   * (`rate_windows`). Accounts, companies and factor enrolments stay until removed; the
   * audit log is kept for its retention. The oidc-provider adapter's collections belong to the adapter you pass to
   * `configure`: with `createMongoAdapter`, call `ensureAdapterIndexes` too.
   */
  ensureIndexes(options?: AuditLogOptions): Promise<void>;
}

/**
 * Step-up MFA for an existing oidc-provider 9 deployment, in two phases because oidc-provider reads its configuration
 * once: {@link StepUp.configure} before `new Provider(…)`, {@link StepUp.middleware} after it (see the README's plugin
 * section). The ready server is built on the same calls.
 */
export function createStepUp(options: StepUpOptions): StepUp {
  const { conn, issuerName } = options;
  const look: MailLook = { logoUrl: options.brand?.logoUrl, primaryColor: options.brand?.primaryColor, support: options.support };
  const issuer = options.issuer?.replace(/\/+$/, '');
  const logger = options.logger ?? createLogger('silent');
  const views = options.views ?? createViews();
  // One set of catalogues for the pages and every mail (the code mail, the notifications, the reset link).
  const factors = options.factors ?? defaultFactors(options, logger, look, views.languages);
  const events = createSecurityEvents({
    conn,
    mail: options.mailer
      ? {
        mailer: options.mailer,
        issuerName,
        accountUrl: issuer ? `${issuer}${ACCOUNT_PATH}` : undefined,
        resetUrl: issuer ? `${issuer}${PASSWORD_RESET_PATH}` : undefined,
        look,
        languages: views.languages,
      }
      : undefined,
    logger: logger.child({ component: 'events' }),
  });

  // What `configure` learns of the deployment that the pages need: how long the sessions' proofs must be kept, and
  // where the authorization endpoint is.
  let proofsKeepMs: number | undefined;
  let authorizationPath = '/auth';
  let readPaths: ReadPaths = readPathsOf(undefined);

  return Object.freeze({
    factors,
    views,
    events,
    configure(base: Configuration): Configuration {
      proofsKeepMs = proofsKeepMsOf(base);
      authorizationPath = base.routes?.authorization ?? authorizationPath;
      readPaths = readPathsOf(base.routes);
      const configured = applyStepUp(base, { conn, factors, proofsKeepMs, uiLocales: views.languages.supported });
      if (!issuer) return configured;
      const cookieKeys = base.cookies?.keys;
      if (!Array.isArray(cookieKeys) || cookieKeys.length === 0) {
        throw new Error('the security console needs cookies.keys as a list (its client secret is derived from the first key)');
      }
      const names = Object.fromEntries(views.languages.supported.map((language) => [language, views.languages.translator(language).t('console.overview.title')]));
      return { ...configured, clients: [...(base.clients ?? []), accountConsoleClient(issuer, cookieKeys as readonly (string | Buffer)[], names) as ClientMetadata] };
    },
    middleware(provider: Provider): Middleware {
      if (!Array.isArray(provider.keys) || provider.keys.length === 0) {
        throw new Error('the provider has no cookie keys: set cookies.keys in its configuration');
      }
      const accountCollections = [...factors.accountCollections, METHOD_CHOICE_COLLECTION];
      readOncePerRequest(provider, readPaths, accountCollections);
      storeResumedProofs(provider, { conn, proofsKeepMs });
      answerRequestedAcr(provider);
      keepOfflineAccessAsked(provider, authorizationPath);
      const router = interactionRouter({
        provider,
        conn,
        views,
        csrf: createCsrfTokens(provider.keys),
        logger: logger.child({ component: 'interactions' }),
        factors,
        events,
        proofsKeepMs,
        passwordResetPath: issuer && options.mailer ? PASSWORD_RESET_PATH : undefined,
        support: options.support,
      });
      const headers = { imageUrls: [options.brand?.logoUrl] };
      const pages = compose([errorBoundary({ views, logger, support: options.support }), securityHeaders(headers), router.routes() as Middleware, router.allowedMethods() as Middleware]);
      const accountPages = issuer
        ? compose([errorBoundary({ views, logger, support: options.support }), securityHeaders(headers), accountConsole({
          provider, conn, issuer, factors, events, logger: logger.child({ component: 'account' }), tokenEndpoint: options.tokenEndpoint, views,
        })])
        : undefined;
      const resetPages = issuer && options.mailer
        ? compose([errorBoundary({ views, logger, support: options.support }), securityHeaders(headers), passwordResetPages({
          provider, conn, views, events, factors, mailer: options.mailer, issuerName, issuer, signInPath: ACCOUNT_PATH, look,
          logger: logger.child({ component: 'password_reset' }),
        })])
        : undefined;
      const assetFiles = assets({ brand: options.brand });
      const language = languageRouter(views.languages);
      const languagePage = compose([errorBoundary({ views, logger, support: options.support }), securityHeaders(headers), language.routes() as Middleware]);
      const readAlong = readAlongFor(accountCollections);
      const consoleReads = consoleReadPlan(ACCOUNT_SESSIONS, accountCollections);
      return async function stepUpPages(ctx, next) {
        useLanguages(ctx, views.languages);
        if (ctx.path === INTERACTION_PATH || ctx.path.startsWith(`${INTERACTION_PATH}/`)) {
          return withRequestReads(() => pages(ctx, next), readPlanFor(ctx, readPaths, accountCollections), readAlong);
        }
        if (accountPages && (ctx.path === ACCOUNT_PATH || ctx.path.startsWith(`${ACCOUNT_PATH}/`))) {
          return withRequestReads(() => accountPages(ctx, next), consoleReads, readAlong);
        }
        if (resetPages && (ctx.path === PASSWORD_RESET_PATH || ctx.path.startsWith(`${PASSWORD_RESET_PATH}/`))) return resetPages(ctx, next);
        if (isAssetPath(ctx.path)) return assetFiles(ctx, next);
        if (ctx.path === LANGUAGE_PATH) return languagePage(ctx, next);
        return next();
      };
    },
    async ensureIndexes(indexOptions: AuditLogOptions = {}): Promise<void> {
      const retentionDays = indexOptions.retentionDays === undefined ? DEFAULT_AUDIT_RETENTION_DAYS : indexOptions.retentionDays;
      await Promise.all([
        ensureAccountIndexes(conn),
        ensureAuditIndexes(conn, { retentionDays }),
        ensureAttemptIndexes(conn),
        ensureAccountSessionIndexes(conn),
        ensurePolicyNoticeIndexes(conn),
        ensureProofIndexes(conn),
        ensureFactorSetLeaseIndexes(conn),
        ensureResetLinkIndexes(conn),
        ensureRateWindowIndexes(conn),
      ]);
    },
  });
}

const readingProviders = new WeakSet<Provider>();

/**
 * Each provider request reads a document once, and its first read fetches what the request will read next
 * (`src/store/request_reads.ts`, `src/provider/read_plan.ts`). Once per provider, before its other middleware.
 */
function readOncePerRequest(provider: Provider, paths: ReadPaths, accountCollections: readonly string[]): void {
  if (readingProviders.has(provider)) return;
  readingProviders.add(provider);
  const along = readAlongFor(accountCollections);
  provider.use((ctx, next) => withRequestReads(next, readPlanFor(ctx, paths, accountCollections), along));
}

const storingProviders = new WeakSet<Provider>();

/**
 * A login resumed into a session the browser did not have before: the proofs its interaction held become the session's
 * (`src/authentication/held_proofs.ts`), stored once oidc-provider has handled the request — before the response, so
 * before a shop can redeem the code. Once per provider.
 */
function storeResumedProofs(provider: Provider, deps: AuthenticationDeps): void {
  if (storingProviders.has(provider)) return;
  storingProviders.add(provider);
  provider.use(async (ctx, next) => {
    await next();
    await saveAdoptedProofs(deps, ctx.req);
  });
}

function defaultFactors(options: StepUpOptions, logger: Logger, look: MailLook, languages: Languages): FactorRegistry {
  if (!options.secrets) throw new Error('createStepUp needs `secrets` (FACTOR_KEYS and the MFA peppers) or a `factors` registry');
  const { secrets, mailer } = options;
  return createDefaultFactors({
    conn: options.conn,
    secretBox: createSecretBox(secrets.factorKeys),
    issuer: options.issuerName,
    recoveryPepper: secrets.peppers.recoveryCodes,
    ...(options.attemptPolicy ? { attemptPolicy: options.attemptPolicy } : {}),
    ...(mailer
      ? {
        codeMailer: createCodeMailer({ mailer, issuerName: options.issuerName, logger: logger.child({ component: 'mail' }), look, languages }),
        emailCodePepper: secrets.peppers.emailCodes,
      }
      : {}),
  }).registry;
}
