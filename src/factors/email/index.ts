export {
  EMAIL_CODE_AMR_URN, EMAIL_CODE_DEFAULTS, EMAIL_CODE_FACTOR_ID, createEmailCodeFactor, type CodeMailer,
  type EmailCodeEnrolView, type EmailCodeFactor, type EmailCodeFactorOptions,
} from './factor.ts';
export {
  EMAIL_CODE_DIGITS, MIN_EMAIL_PEPPER_BYTES, generateEmailCode, hashEmailCode, normaliseEmailCode,
} from './code.ts';
