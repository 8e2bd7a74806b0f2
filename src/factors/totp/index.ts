export {
  createTotpFactor, TOTP_FACTOR_ID, type TotpBeginOptions, type TotpEnrolView, type TotpFactor, type TotpFactorOptions,
} from './factor.ts';
export {
  buildOtpauthUri, checkTotpCode, encodeBase32, formatManualKey, generateTotpSecret, normaliseTotpInput,
  TOTP_ALGORITHM, TOTP_DIGITS, TOTP_PERIOD_SECONDS, TOTP_SECRET_BYTES, TOTP_WINDOW_STEPS, type TotpCheckOptions,
} from './otp.ts';
