/** The mail layer's public surface: transport, templates, the email-code port, security notifications. */
export { DEFAULT_OUTBOX_PATH, DEFAULT_OUTBOX_SIZE, DEFAULT_SMTP_TIMEOUTS, createMailer, type MailLogger, type MailMessage, type Mailer, type MailerOptions, type OutboxEntry, type SendResult, type SmtpTimeouts } from './transport.ts';
export {
  EMAIL_CODE_PURPOSES, NOTIFICATIONS, NOTIFICATION_KINDS, defaultMailLanguages, mailWords, maskEmail, renderEmailCode,
  renderNotification, summarizeUserAgent,
  type EmailCodeData, type EmailCodePurpose, type EventContext, type MailContext, type MailReader, type NotificationData,
  type NotificationFacts, type NotificationKind, type RenderedMail,
} from './templates.ts';
export { createCodeMailer, type CodeMailerDeps, type EmailCodeSender } from './code_mailer.ts';
