/** The mail layer's public surface: transport, templates, the email-code port, security notifications. */
export { DEFAULT_OUTBOX_PATH, DEFAULT_OUTBOX_SIZE, DEFAULT_SMTP_TIMEOUTS, createMailer, type MailLogger, type MailMessage, type Mailer, type MailerOptions, type OutboxEntry, type SendResult, type SmtpTimeouts } from './transport.ts';
export {
  EMAIL_CODE_PURPOSES, MAIL_MESSAGES, NOTIFICATIONS, NOTIFICATION_KINDS, formatMailTime, maskEmail, renderEmailCode,
  renderNotification, summarizeUserAgent,
  type EmailCodeData, type EmailCodePurpose, type EventContext, type MailContext, type MailMessageId, type NotificationData,
  type NotificationFacts, type NotificationKind, type RenderedMail,
} from './templates.ts';
export { createCodeMailer, type CodeMailerDeps, type EmailCodeSender } from './code_mailer.ts';
