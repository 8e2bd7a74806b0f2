/**
 * oidc-stepup's public API for an existing deployment (named exports only). The step-up plugin API proper
 * (`createStepUp(provider, options)`) arrives with the MFA issue; today an application can build the same
 * server `npm start` runs, piece by piece.
 */
export { createApp, type AppDeps } from './app.ts';
export {
  loadConfig, ConfigError, CONFIG_KEYS, deriveMfaPeppers, resolveMfaSecrets,
  type Config, type MailConfig, type MfaPeppers, type MfaSecrets, type ResourceServerConfig, type TtlConfig,
} from './config/index.ts';
export { connectStore, type Store } from './store/connect.ts';
export {
  buildProviderConfiguration,
  createProvider,
  isFirstParty,
  CLAIMS,
  SCOPES,
  INTERACTION_PATH,
  type ProviderDeps,
} from './provider/configuration.ts';
export { ACR_VALUES, ACR_PWD, ACR_MFA, ACR_MFA_APP, ACR_PAPE_MFA } from './provider/acr.ts';
export { createFindAccount, accountClaims } from './provider/find_account.ts';
export { createMongoAdapter, ensureAdapterIndexes } from './provider/adapter.ts';
export { loadOrCreateDevKeys, parseConfiguredKeys, type ProviderKeys } from './provider/keys.ts';
export { interactionRouter, createCsrfTokens, type InteractionDeps, type CsrfTokens } from './interactions/index.ts';
export { createViews, VIEWS_DIR, type Views } from './http/views.ts';
export { securityHeaders, allowFormActions } from './http/security_headers.ts';
export { errorBoundary } from './http/error_boundary.ts';
export { healthRouter } from './http/health.ts';
export { createMetrics, countMailFailures, httpMetrics, metricsRouter, type AppMetrics } from './http/metrics.ts';
export { devMailRouter, servesDevMail, DEV_MAIL_PATH } from './http/dev_mail.ts';
export { createLogger, type Logger, type LogLevel } from './shared/logger.ts';
export {
  decideStepUp, grantableStepUpScopes, requestedAcrLevel, secondFactorFresh, STEP_UP_SCOPE_RULES,
  type StepUpDecision, type StepUpInput, type StepUpOptions, type StepUpReason, type StepUpScopeRule,
} from './policy/step_up.ts';
export { evaluateStepUp, loadStepUpInput, type StepUpDeps, type StepUpRequest } from './policy/step_up_inputs.ts';
export { buildInteractionPolicy, MFA_REQUIRED_REASON } from './provider/step_up_policy.ts';
