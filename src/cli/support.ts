/**
 * What the support commands (`user reset-factors`, `user unlock`) need besides the database, built the way the
 * server's composition root (`src/main.ts`) builds it from the same configuration: the factor registry over the
 * configured (or, in development, the stored) factor secrets, a mailer when `SMTP_URL` is set, the provider's cookie
 * keys for the password-login throttle, and the operator as the audit actor.
 *
 * Mail: without `SMTP_URL` the server keeps mail in its own process (the dev outbox), which the CLI cannot reach; the
 * CLI then records the event in the audit log only and says that the customer was not emailed.
 */
import type { Connection } from 'mongoose';
import { ensureAuditIndexes, type AuditActor } from '../audit/audit_log.ts';
import type { Config } from '../config/index.ts';
import { resolveMfaSecrets } from '../provider/mfa_secrets.ts';
import { createDefaultFactors, createSecretBox } from '../factors/index.ts';
import { loadLanguages } from '../i18n/languages.ts';
import { createCodeMailer, createMailer, type MailLogger } from '../mail/index.ts';
import { loadDevKeys } from '../provider/keys.ts';
import { createSecurityEvents, type SecurityEvents } from '../security/events.ts';
import type { ActionContext, SupportDeps } from '../security/support_actions.ts';
import type { CliIo, CommandContext } from './io.ts';

/** The actor of the CLI's audit records: support, named by the operator's login (`$USER`), else `cli`. */
export function operatorActor(env: CliIo['env']): AuditActor {
  return { type: 'support', id: env.USER?.trim() || 'cli' };
}

/** The action context of a CLI command: the operator, no IP or browser. */
export function cliActionContext(env: CliIo['env']): ActionContext {
  return { actor: operatorActor(env) };
}

/**
 * Makes sure the audit indexes carry the configured retention before the CLI writes a record: with no retention
 * given, the audit log would fall back to the default and replace a differently configured TTL index.
 */
export async function prepareAuditLog(ctx: CommandContext): Promise<void> {
  await ensureAuditIndexes(ctx.conn, { retentionDays: ctx.config().auditRetentionDays });
}

/** Mail and audit problems as plain warnings on stderr (no JSON log lines in an operator's terminal). */
export function stderrLogger(io: CliIo): MailLogger {
  const warn = (obj: object, msg: string): void => {
    const err = (obj as { err?: unknown }).err;
    let detail = '';
    if (typeof err === 'string') detail = ` (${err})`;
    else if (typeof err === 'object' && err !== null) {
      const { code, message } = err as { code?: unknown; message?: unknown };
      detail = ` (${[code, message].filter((part) => typeof part === 'string').join(': ')})`;
    }
    io.stderr.write(`Warning: ${msg}${detail === ' ()' ? '' : detail}\n`);
  };
  return { info: () => undefined, warn, error: warn };
}

/** The security events of a CLI command that mails nothing (unlock, disable): audited, failures on standard error. */
export function auditOnly(ctx: CommandContext): { conn: Connection; events: SecurityEvents } {
  return { conn: ctx.conn, events: createSecurityEvents({ conn: ctx.conn, logger: stderrLogger(ctx.io) }) };
}

/** The support actions' dependencies for a CLI run; `close` releases the SMTP transport. */
export interface CliSupport {
  readonly deps: SupportDeps;
  /** `smtp`: notifications are emailed; `none`: no `SMTP_URL`, audit records only. */
  readonly mail: 'smtp' | 'none';
  close(): Promise<void>;
}

/**
 * Builds the factor registry (every factor the server registers, the email-code factor included, so that a reset
 * removes its enrolments too; the CLI never sends a code) and, with `SMTP_URL`, the notifier. Outside production
 * without `FACTOR_KEYS`/`MFA_PEPPER` the factor secrets come from the database (`dev_secrets`, created by the first
 * server start; created here if the server never ran, exactly as the server would).
 */
export async function openSupport(ctx: CommandContext): Promise<CliSupport> {
  const config = ctx.config();
  const logger = stderrLogger(ctx.io);
  await prepareAuditLog(ctx);
  const mailer = createMailer({
    smtpUrl: config.mail.smtpUrl,
    from: config.mail.from,
    issuerName: config.issuerName,
    production: config.production,
    logger,
  });
  try {
    const secrets = await resolveMfaSecrets(config, ctx.conn);
    // The mails of a support action speak the account's language, else the deployment's (DEFAULT_LOCALE).
    const languages = loadLanguages({ defaultLanguage: config.defaultLocale });
    const { registry } = createDefaultFactors({
      conn: ctx.conn,
      secretBox: createSecretBox(secrets.factorKeys),
      issuer: config.issuerName,
      recoveryPepper: secrets.peppers.recoveryCodes,
      codeMailer: createCodeMailer({ mailer, issuerName: config.issuerName, logger, languages }),
      emailCodePepper: secrets.peppers.emailCodes,
    });
    const smtp = mailer.mode === 'smtp';
    return {
      deps: {
        conn: ctx.conn,
        factors: registry,
        // Without SMTP the dev outbox of this short-lived process would swallow the mail: audited only.
        events: createSecurityEvents({ conn: ctx.conn, mail: smtp ? { mailer, issuerName: config.issuerName, languages } : undefined, logger }),
      },
      mail: smtp ? 'smtp' : 'none',
      close: () => mailer.close(),
    };
  } catch (err) {
    await mailer.close();
    throw err;
  }
}

/** The cookie keys the password-login throttle is keyed by, and where they came from. */
export interface ThrottleKeys {
  readonly keys: readonly string[];
  readonly source: 'COOKIE_KEYS' | 'dev_keys';
}

/**
 * The server's cookie keys: `COOKIE_KEYS` when configured, otherwise the development keys the server stored in
 * `dev_keys` — read only, never created (new keys would key a throttle nobody uses). `undefined` when neither exists:
 * no server has run with these keys, so no password attempt was ever counted.
 */
export async function loadThrottleKeys(conn: Connection, config: Pick<Config, 'keys'>): Promise<ThrottleKeys | undefined> {
  if (config.keys) return { keys: config.keys.cookieKeys, source: 'COOKIE_KEYS' };
  const stored = await loadDevKeys(conn);
  if (!stored) return undefined;
  return { keys: stored.cookieKeys, source: 'dev_keys' };
}
