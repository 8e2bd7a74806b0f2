export { loadConfig, ConfigError, CONFIG_KEYS } from './load_config.ts';
export type { Config, ResourceServerConfig, TtlConfig } from './load_config.ts';
