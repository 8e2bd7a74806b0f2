/**
 * oidc-stepup's public API (named exports only): what an existing oidc-provider deployment needs to add step-up MFA
 * (`createStepUp`, see `plugin.ts` and the README), to manage its customers and companies, and to bring a second
 * factor of its own. The ready server (`npm start`, `src/main.ts`) is built on the same calls; its other modules are
 * internal and may change between versions.
 */

// The plugin and its settings.
export { createStepUp, type StepUp, type StepUpOptions } from './plugin.ts';
export { loadConfig, ConfigError, type Config } from './config/index.ts';
export { deriveMfaPeppers, resolveMfaSecrets, type MfaPeppers, type MfaSecrets } from './provider/mfa_secrets.ts';
export { createMongoAdapter, ensureAdapterIndexes } from './provider/adapter.ts';
export { generateProviderKeys, type ProviderKeys } from './provider/keys.ts';
export { createMailer, type Mailer } from './mail/index.ts';

// Assurance levels: the acr values requests name and tokens carry.
export { ACR, ACR_VALUES, LEVEL, MULTI_FACTOR_ALIAS } from './policy/acr.ts';

// Customers and companies.
export { createAccount, findAccountByEmail, setPrivilege, type Account } from './accounts/accounts.ts';
export { createCompany, setCompanyPolicy, type Company, type MfaPolicy } from './accounts/companies.ts';

// Second factors: the built-in ones, the registry, and the contract a factor of one's own implements.
export { createDefaultFactors, createFactorRegistry, type DefaultFactorOptions, type FactorRegistry } from './factors/registry.ts';
export { createSecretBox, generateKey } from './factors/shared/secret_box.ts';
export { parseKeyRing, type KeyRing } from './config/key_ring.ts';
export type {
  ChallengeSent, ConfirmSuccess, EnrolBeginOptions, EnrolBeginSuccess, Factor, FactorAccount, FactorChallenge, FactorEnrolment,
  FactorFailure, FactorFailureCode, FactorViewModel, FactorViews, VerifyResult, VerifySuccess,
} from './factors/contract.ts';

// A shop's own APIs: RFC 9470 step-up checks of JWT access tokens.
export {
  requireAuthentication, verifyStepUp, bearerTokenOf, issuerKeys,
  type StepUpRequirement, type StepUpResult, type StepUpGranted, type StepUpRefusal, type StepUpRefusalCode, type BearerError, type StepUpState,
} from './resource/step_up.ts';
