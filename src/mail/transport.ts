/**
 * Outgoing mail (docs/ARCHITECTURE.md "Support actions, audit log and mail"): SMTP through nodemailer when an SMTP
 * URL is configured; otherwise, outside production, an in-process outbox that a dev-only page reads, so a newcomer
 * can finish an email-code sign-in with no setup. Production without SMTP is a configuration error.
 *
 * A failed send never throws: it is logged (recipient masked, never the body) and returned as
 * `{ ok: false, code: 'mail_failed' }`, so a page can say "the code could not be sent" and offer another method.
 */
import { randomUUID } from 'node:crypto';
import nodemailer, { type Transporter, type SMTPTransportOptions, type SMTPSentMessageInfo } from 'nodemailer';
import { MAIL_REQUIRED_IN_PRODUCTION, RECIPIENT, SMTP_URL_SETTING, formatFrom, parseSmtpUrl } from '../config/mail_settings.ts';
import { AppError } from '../shared/errors.ts';
import { maskEmail } from '../shared/mask_email.ts';

/** Where the dev outbox page lives (named in the dev log line). */
export const DEFAULT_OUTBOX_PATH = '/dev/mail';
/** How many captured messages the dev outbox keeps (the oldest are dropped first). */
export const DEFAULT_OUTBOX_SIZE = 50;

/** SMTP timeouts in milliseconds. Defaults 10 000 each: a slow relay must not hold a sign-in page for minutes. */
export interface SmtpTimeouts {
  /** TCP (and TLS) connection set-up; also the DNS lookup. */
  readonly connectionMs: number;
  /** From connect to the server's greeting. */
  readonly greetingMs: number;
  /** Inactivity on an open connection. */
  readonly socketMs: number;
}

export const DEFAULT_SMTP_TIMEOUTS: SmtpTimeouts = Object.freeze({ connectionMs: 10_000, greetingMs: 10_000, socketMs: 10_000 });

/** The pino-like logger the mailer writes to (a pino `Logger` fits). */
export interface MailLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** One message: a single recipient address, both parts always (plain text for every client, HTML beside it). */
export interface MailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string;
  /** The language it is written in, sent as `Content-Language` (RFC 3282) so mail programs offer no translation. */
  readonly language?: string | undefined;
}

/** The result of {@link Mailer.send}; never a throw. */
export type SendResult = { readonly ok: true; readonly messageId: string } | { readonly ok: false; readonly code: 'mail_failed' };

/** A message kept by the dev outbox. */
export interface OutboxEntry extends MailMessage {
  readonly messageId: string;
  readonly from: string;
  readonly sentAt: Date;
}

/** Sends the product's mails: over SMTP, or into an in-process outbox for development and tests. */
export interface Mailer {
  /** `smtp`: real delivery; `outbox`: captured in process (development and tests only). */
  readonly mode: 'smtp' | 'outbox';
  /** Sends one message. Failures are logged (without the body) and returned, never thrown. */
  send(message: MailMessage): Promise<SendResult>;
  /** The captured messages, newest first (at most the outbox size); `undefined` in `smtp` mode (no dev page then). */
  outbox(): readonly OutboxEntry[] | undefined;
  /** Releases the SMTP transport (idempotent). */
  close(): Promise<void>;
}

export interface MailerOptions {
  /** `smtp://user:pass@host:587` or `smtps://user:pass@host:465` (see {@link parseSmtpUrl}); unset → dev outbox. */
  readonly smtpUrl?: string | undefined;
  /** Sender address (`no-reply@shop.example`, or `Name <address>`); a bare address gets the issuer's name. */
  readonly from: string;
  /** The provider's name as customers know it; the sender's display name. */
  readonly issuerName: string;
  /** Production refuses to run without SMTP. */
  readonly production: boolean;
  readonly logger?: MailLogger | undefined;
  /** SMTP timeouts; see {@link DEFAULT_SMTP_TIMEOUTS}. */
  readonly timeouts?: Partial<SmtpTimeouts> | undefined;
  /** Dev outbox size, default {@link DEFAULT_OUTBOX_SIZE}. */
  readonly outboxSize?: number | undefined;
  /** Dev outbox page path for the log line, default {@link DEFAULT_OUTBOX_PATH}. */
  readonly outboxPath?: string | undefined;
  /** Clock for `sentAt` (tests freeze it). */
  readonly now?: (() => Date) | undefined;
}

function fromHeader(from: string | { name: string; address: string }): string {
  return typeof from === 'string' ? from : `"${from.name.replace(/["\\\r\n]/g, '')}" <${from.address}>`;
}

/** What a failure log may say about an error: its codes and message, never the message body. */
function describeError(err: unknown): Record<string, unknown> {
  if (typeof err !== 'object' || err === null) return { message: String(err) };
  const e = err as { code?: unknown; responseCode?: unknown; command?: unknown; message?: unknown };
  return {
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(typeof e.responseCode === 'number' ? { responseCode: e.responseCode } : {}),
    ...(typeof e.command === 'string' ? { command: e.command } : {}),
    ...(typeof e.message === 'string' ? { message: e.message.slice(0, 300) } : {}),
  };
}

const SILENT: MailLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** RFC 3834: an automatic message; well-behaved servers send no vacation replies to it. */
const HEADERS = { 'Auto-Submitted': 'auto-generated' };

/**
 * Creates the mailer. Throws an {@link AppError} for a configuration it cannot work with: production without an SMTP
 * URL (`mail_not_configured`), an invalid SMTP URL (`invalid_smtp_url`, every problem listed), a bad sender.
 */
export function createMailer(options: MailerOptions): Mailer {
  const logger = options.logger ?? SILENT;
  const from = formatFrom(options.from, options.issuerName);
  const now = options.now ?? (() => new Date());

  if (options.smtpUrl === undefined || options.smtpUrl.trim() === '') {
    if (options.production) throw new AppError('mail_not_configured', MAIL_REQUIRED_IN_PRODUCTION);
    return createOutboxMailer({ from: fromHeader(from), logger, now, size: options.outboxSize ?? DEFAULT_OUTBOX_SIZE, path: options.outboxPath ?? DEFAULT_OUTBOX_PATH });
  }

  const { problems, settings } = parseSmtpUrl(options.smtpUrl);
  if (!settings) throw new AppError('invalid_smtp_url', `${SMTP_URL_SETTING} is invalid: ${problems.join('; ')}`);
  if (options.production && settings.auth && !settings.secure && !settings.requireTLS) {
    logger.warn({ host: settings.host, port: settings.port }, `SMTP credentials may travel unencrypted if the server offers no STARTTLS: use smtps:// or ?requireTLS=true in ${SMTP_URL_SETTING}`);
  }
  const timeouts = { ...DEFAULT_SMTP_TIMEOUTS, ...options.timeouts };
  const transportOptions: SMTPTransportOptions = {
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    requireTLS: settings.requireTLS,
    ...(settings.auth ? { auth: { user: settings.auth.user, pass: settings.auth.pass } } : {}),
    connectionTimeout: timeouts.connectionMs,
    dnsTimeout: timeouts.connectionMs,
    greetingTimeout: timeouts.greetingMs,
    socketTimeout: timeouts.socketMs,
    // our messages are built from templates: nothing in them may make nodemailer read a file or fetch a URL
    disableFileAccess: true,
    disableUrlAccess: true,
  };
  const transport: Transporter<SMTPSentMessageInfo> = nodemailer.createTransport(transportOptions);
  let closed = false;

  return {
    mode: 'smtp',
    async send(message) {
      const to = maskEmail(message.to);
      if (!RECIPIENT.test(message.to) || message.to.length > 254) {
        logger.error({ to, subject: message.subject }, 'mail not sent: the recipient is not a single email address');
        return { ok: false, code: 'mail_failed' };
      }
      try {
        const headers = message.language && /^[a-z]{2,3}(-[a-z0-9]{2,8})*$/.test(message.language)
          ? { ...HEADERS, 'Content-Language': message.language }
          : HEADERS;
        const info = await transport.sendMail({ from, to: message.to, subject: message.subject, text: message.text, html: message.html, headers });
        logger.info({ to, subject: message.subject, messageId: info.messageId }, `mail to ${to} sent`);
        return { ok: true, messageId: info.messageId };
      } catch (err) {
        logger.error({ to, subject: message.subject, smtpHost: settings.host, smtpPort: settings.port, err: describeError(err) }, `mail to ${to} failed`);
        return { ok: false, code: 'mail_failed' };
      }
    },
    outbox: () => undefined,
    async close() {
      if (closed) return;
      closed = true;
      transport.close();
    },
  };
}

function createOutboxMailer(o: { from: string; logger: MailLogger; now: () => Date; size: number; path: string }): Mailer {
  if (!Number.isInteger(o.size) || o.size < 1) throw new AppError('invalid_outbox_size', 'the dev outbox size must be a positive whole number');
  const entries: OutboxEntry[] = [];
  return {
    mode: 'outbox',
    async send(message) {
      const to = maskEmail(message.to);
      if (!RECIPIENT.test(message.to) || message.to.length > 254) {
        o.logger.error({ to, subject: message.subject }, 'mail not sent: the recipient is not a single email address');
        return { ok: false, code: 'mail_failed' };
      }
      const messageId = `<${randomUUID()}@outbox.oidc-stepup.invalid>`;
      entries.unshift(Object.freeze({ messageId, from: o.from, to: message.to, subject: message.subject, text: message.text, html: message.html, sentAt: o.now() }));
      entries.length = Math.min(entries.length, o.size);
      // the subject and a masked address only: the body (a code) stays on the dev page
      o.logger.info({ to, subject: message.subject, messageId }, `mail to ${to}: ${message.subject}; read it at ${o.path}`);
      return { ok: true, messageId };
    },
    outbox: () => [...entries],
    async close() {
      entries.length = 0;
    },
  };
}
