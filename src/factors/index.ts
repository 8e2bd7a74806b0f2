/**
 * The factors' public surface for the interactions, the console and the plugin API. Callers work with the
 * {@link Factor} contract and the registry; the factory functions are for the composition root.
 */
export * from './contract.ts';
export { createDefaultFactors, createFactorRegistry, type DefaultFactorOptions, type FactorRegistry } from './registry.ts';
export {
  ATTEMPT_RETENTION_MS, DEFAULT_ATTEMPT_POLICY, SECOND_FACTOR_BUCKET, createAttemptLimiter, ensureAttemptIndexes, lockoutMs,
  resetAttempts, type AttemptLimiter, type AttemptPolicy, type AttemptStatus, type AttemptTicket, type AttemptInFlight,
} from './shared/attempts.ts';
export { createSecretBox, generateKey, type SealedSecret, type SecretBox } from './shared/secret_box.ts';
export { formatKeyRing, parseKeyRing, type KeyRing } from '../config/key_ring.ts';
export { advanceCounter, consumeOnce } from './shared/single_use.ts';
export { createTotpFactor, type TotpEnrolView, type TotpFactor, type TotpFactorOptions } from './totp/index.ts';
export {
  RECOVERY_ATTEMPT_BUCKET, createRecoveryFactor, type RecoveryCodesView, type RecoveryFactor, type RecoveryFactorOptions,
} from './recovery/index.ts';
export {
  EMAIL_CODE_AMR_URN, EMAIL_CODE_DEFAULTS, createEmailCodeFactor, type CodeMailer, type EmailCodeEnrolView,
  type EmailCodeFactor, type EmailCodeFactorOptions,
} from './email/index.ts';
export {
  createMethodChoice, type ChoosePrimaryResult, type MethodChoice, type MethodOptions,
} from './method_choice.ts';
