/**
 * oidc-stepup's public API (named exports only). An existing oidc-provider deployment adds step-up MFA with
 * `createStepUp` (see `plugin.ts` and the README); the rest builds the same server `npm start` runs, piece by piece.
 */
export { createApp, type AppDeps } from './app.ts';
export {
  loadConfig, ConfigError, CONFIG_KEYS, deriveMfaPeppers, resolveMfaSecrets,
  type Config, type MailConfig, type MfaPeppers, type MfaSecrets, type ResourceServerConfig, type TtlConfig,
} from './config/index.ts';
export { connectStore, type Store } from './store/connect.ts';
export { createStepUp, type StepUp, type StepUpOptions } from './plugin.ts';
export {
  applyStepUp, isFirstParty, refuseStepUpClientCredentials, CLAIMS, SCOPES, INTERACTION_PATH, type StepUpConfigurationDeps,
} from './provider/step_up_configuration.ts';
export { buildProviderConfiguration, createProvider, type ProviderDeps } from './provider/configuration.ts';
export { ACR, ACR_VALUES, LEVEL, MULTI_FACTOR_ALIAS } from './policy/acr.ts';
export { createFindAccount, accountClaims } from './provider/find_account.ts';
export { createMongoAdapter, ensureAdapterIndexes } from './provider/adapter.ts';
export { generateProviderKeys, loadOrCreateDevKeys, parseConfiguredKeys, type ProviderKeys } from './provider/keys.ts';
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
  type StepUpDecision, type StepUpInput, type StepUpOptions as StepUpDecisionOptions, type StepUpReason, type StepUpScopeRule,
} from './policy/step_up.ts';
export { essentialAcrOf, maxAgeSince, requestFromParams, type StepUpParams } from './policy/step_up_params.ts';
export {
  evaluateStepUp, type AuthenticationDeps, type StepUpEvaluation, type AccountFacts,
} from './authentication/request_state.ts';
export { deriveProven, isCurrent, type AuthenticationState, type Proven } from './authentication/state.ts';
export { endSignIns, type EndedSignIns, type KeptSession } from './authentication/credentials.ts';
export { buildInteractionPolicy, MFA_REQUIRED_REASON, SESSION_OUTDATED_REASON } from './provider/step_up_policy.ts';
export { createDefaultFactors, createFactorRegistry, type FactorRegistry } from './factors/registry.ts';
export type { Factor, FactorAccount, FactorViewModel, FactorViews, VerifyResult } from './factors/contract.ts';
export { createSecretBox, generateKey, parseKeyRing, type KeyRing } from './factors/shared/secret_box.ts';
export { createMailer, type Mailer } from './mail/index.ts';
export { createAccount, findAccountByEmail, setPrivilege, type Account } from './accounts/accounts.ts';
export { createCompany, setCompanyPolicy, type Company, type MfaPolicy } from './accounts/companies.ts';
