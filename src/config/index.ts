export {
  loadConfig, parseMfaPepper, ConfigError, CONFIG_KEYS, DEFAULT_ISSUER_NAME, DEV_MAIL_FROM, MIN_MFA_PEPPER_BYTES,
  MIN_METRICS_TOKEN_LENGTH,
} from './load_config.ts';
export type { Config, MailConfig, ResourceServerConfig, TtlConfig } from './load_config.ts';
