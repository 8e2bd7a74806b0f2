export {
  createRecoveryFactor, RECOVERY_ATTEMPT_BUCKET, RECOVERY_FACTOR_ID, RECOVERY_INITIAL_WINDOW_MS, type RecoveryBeginOptions,
  type RecoveryCodesView, type RecoveryFactor, type RecoveryFactorOptions,
} from './factor.ts';
export {
  formatRecoveryCode, generateRecoveryCode, hashRecoveryCode, normaliseRecoveryCode, RECOVERY_CODE_SECRET_BITS,
  RECOVERY_CODE_COUNT, RECOVERY_CODE_GROUP, RECOVERY_CODE_SYMBOLS,
} from './codes.ts';
