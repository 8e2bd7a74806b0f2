export {
  createRecoveryFactor, RECOVERY_ATTEMPT_BUCKET, RECOVERY_FACTOR_ID, type RecoveryCodesView, type RecoveryFactor,
  type RecoveryFactorOptions,
} from './factor.ts';
export {
  formatRecoveryCode, generateRecoveryCode, hashRecoveryCode, normaliseRecoveryCode, RECOVERY_CODE_BITS,
  RECOVERY_CODE_COUNT, RECOVERY_CODE_SYMBOLS,
} from './codes.ts';
