import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Log levels accepted by `LOG_LEVEL`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The structured JSON logger (pino). Secrets never reach it: callers log ids and codes, not tokens,
 * passwords or cookies; the redaction list is a second line of defence for careless fields.
 */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({
    level,
    base: { service: 'oidc-stepup' },
    redact: {
      paths: ['password', '*.password', 'clientSecret', '*.clientSecret', 'cookie', '*.cookie', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  });
}
