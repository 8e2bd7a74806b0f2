/**
 * Security events, recorded in one place (docs/ARCHITECTURE.md "Support actions, audit log and mail"): every change a
 * customer, an admin, support or the system makes to an account's security — a factor added or removed, a reset, a
 * lockout, a password change, a policy switch — is one call of {@link SecurityEvents.record}. It writes the audit
 * record and, for the kinds the customer is told about (OWASP ASVS 2.5.5, 2.2.3), mails the account holder.
 *
 * Best effort by design: the change it reports has already happened, so nothing here throws. A failed mail is itself
 * recorded (`notification_failed`) and answered `mailed: false`; a failed audit write is logged and answered
 * `recorded: false`, and the mail still goes out. Without a mailer the events are audited only.
 */
import type { Connection } from 'mongoose';
import { recordEvent, type AuditActor, type AuditEvent, type AuditEventName } from '../audit/audit_log.ts';
import type { Languages } from '../i18n/languages.ts';
import {
  NOTIFICATION_KINDS, defaultMailLanguages, mailWords, renderNotification, type MailLook, type NotificationData, type NotificationFacts,
  type NotificationKind,
} from '../mail/templates.ts';
import type { MailLogger, Mailer } from '../mail/transport.ts';
import { maskEmail } from '../shared/mask_email.ts';

/** Where an event came from: the request's address and browser, the shop it happened for, and who did it. */
export interface Origin {
  readonly ip?: string | undefined;
  readonly userAgent?: string | undefined;
  /** The relying party (shop) the event happened for, if any (audit only). */
  readonly clientId?: string | undefined;
  /**
   * Who did it. Default: the account holder; for `factors_reset` the `details.by` role; for `company_policy_forced`
   * an admin; for `account_locked` the system.
   */
  readonly actor?: AuditActor | undefined;
  /** The language of the page the request was answered in: the mail's language when the account chose none. */
  readonly language?: string | undefined;
}

/** The account an event is about (the address is where its mail goes). */
export interface EventAccount {
  readonly id: string;
  readonly email: string;
  readonly name?: string | undefined;
  /** The language and time zone chosen in the security settings: the mail's, before the origin's. */
  readonly language?: string | undefined;
  readonly timeZone?: string | undefined;
}

/** Kinds whose facts are all optional may leave `details` out. */
type DetailsField<K extends NotificationKind> = Record<string, never> extends NotificationFacts[K]
  ? { readonly details?: NotificationFacts[K] | undefined }
  : { readonly details: NotificationFacts[K] };

/** An event the customer is told about: its facts are shown in the mail and kept in the audit record. */
export type NotifiedEvent<K extends NotificationKind> = {
  readonly kind: K;
  readonly account: EventAccount;
  /** More audit facts that the mail does not show (`{ factorId }`); sanitised like all details. */
  readonly auditDetails?: Readonly<Record<string, unknown>> | undefined;
} & DetailsField<K>;

/** An event that is audited only. */
export interface AuditedEvent {
  readonly kind: Exclude<AuditEventName, NotificationKind>;
  readonly account: Pick<EventAccount, 'id'>;
  readonly details?: Readonly<Record<string, unknown>> | undefined;
}

export interface EventResult {
  /** The audit record was written. */
  readonly recorded: boolean;
  /** The mail was handed to the SMTP server (or the dev outbox); always false for audit-only events. */
  readonly mailed: boolean;
  /** The audit record, when written. */
  readonly event?: AuditEvent;
}

export interface SecurityEvents {
  /** Whether notifications are mailed (a mailer is configured); otherwise every event is audited only. */
  readonly mailing: boolean;
  /** Records an event the customer is told about: the audit record, then the mail. Never throws. */
  record<K extends NotificationKind>(origin: Origin, event: NotifiedEvent<K>): Promise<EventResult>;
  /** Records an audit-only event. Never throws. */
  record(origin: Origin, event: AuditedEvent): Promise<EventResult>;
}

export interface SecurityEventsDeps {
  readonly conn: Connection;
  /** Where the customers' notifications go; without it events are audited only. */
  readonly mail?: {
    readonly mailer: Mailer;
    /** The provider's name as customers know it. */
    readonly issuerName: string;
    /** Absolute URL of the security settings page, linked in the mail. */
    readonly accountUrl?: string | undefined;
    /** Absolute URL of the page that asks for a password reset, linked where a mail advises one. */
    readonly resetUrl?: string | undefined;
    /** The shop's logo, colour and support in the mail. */
    readonly look?: MailLook | undefined;
    /**
     * The deployment's catalogues (`views.languages`: one set for pages and mails); default the package's, English by
     * default. A mail is in the account's language, else the language of the page that caused it, else the default.
     */
    readonly languages?: Languages | undefined;
  } | undefined;
  /** Where audit-write and rendering failures are logged (mail failures are logged by the mailer). */
  readonly logger?: MailLogger | undefined;
  /** Clock (tests freeze it). */
  readonly now?: (() => Date) | undefined;
}

const NOTIFIED: ReadonlySet<string> = new Set(NOTIFICATION_KINDS);

function isNotified(event: NotifiedEvent<NotificationKind> | AuditedEvent): event is NotifiedEvent<NotificationKind> {
  return NOTIFIED.has(event.kind);
}

function defaultActor(kind: AuditEventName, accountId: string, details: unknown): AuditActor {
  if (kind === 'account_locked') return { type: 'system' };
  if (kind === 'company_policy_forced') return { type: 'admin' };
  if (kind === 'factors_reset') return { type: (details as NotificationFacts['factors_reset']).by === 'admin' ? 'admin' : 'support' };
  return { type: 'user', id: accountId };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message.slice(0, 300) : String(err).slice(0, 300);
}

/** The security events of one deployment (built once by the composition root). */
export function createSecurityEvents(deps: SecurityEventsDeps): SecurityEvents {
  return {
    mailing: deps.mail !== undefined,
    record(origin: Origin, event: NotifiedEvent<NotificationKind> | AuditedEvent): Promise<EventResult> {
      return recordSecurityEvent(deps, origin, event);
    },
  } as SecurityEvents;
}

/** Records one security event (see {@link SecurityEvents.record}). Never throws. */
export async function recordSecurityEvent(
  deps: SecurityEventsDeps, origin: Origin, event: NotifiedEvent<NotificationKind> | AuditedEvent,
): Promise<EventResult> {
  const at = (deps.now ?? (() => new Date()))();
  const facts: Readonly<Record<string, unknown>> = event.details ?? {};
  const actor = origin.actor ?? defaultActor(event.kind, event.account.id, facts);
  const auditDetails = isNotified(event) ? { ...event.auditDetails, ...facts } : facts;
  let recorded: AuditEvent | undefined;
  try {
    recorded = await recordEvent(deps.conn, {
      accountId: event.account.id, actor, event: event.kind, at,
      ip: origin.ip, userAgent: origin.userAgent, clientId: origin.clientId, details: auditDetails,
    });
  } catch (err) {
    deps.logger?.error({ accountId: event.account.id, kind: event.kind, err: errorMessage(err) }, 'audit record of a security event could not be written');
  }
  const mailed = isNotified(event) && deps.mail ? await mailNotification(deps, deps.mail, origin, event, at, recorded) : false;
  return recorded ? { recorded: true, mailed, event: recorded } : { recorded: false, mailed };
}

/** Mails the account holder about `event`; a mail that could not go out is itself recorded. */
async function mailNotification(
  deps: SecurityEventsDeps, mail: NonNullable<SecurityEventsDeps['mail']>, origin: Origin, event: NotifiedEvent<NotificationKind>,
  at: Date, recorded: AuditEvent | undefined,
): Promise<boolean> {
  const { account, kind } = event;
  const logContext = { accountId: account.id, kind, to: maskEmail(account.email) };
  let mailed = false;
  try {
    const data = { ...event.details, issuerName: mail.issuerName, name: account.name, accountUrl: mail.accountUrl, resetUrl: mail.resetUrl, look: mail.look, at, ip: origin.ip, userAgent: origin.userAgent };
    const words = mailWords(mail.languages ?? defaultMailLanguages(), account, origin.language);
    const sent = await mail.mailer.send({ to: account.email, ...renderNotification(kind, data as NotificationData<typeof kind>, words) });
    mailed = sent.ok;
  } catch (err) {
    // send() never throws; this is a rendering bug (bad facts) — the event is recorded, the mail is lost
    deps.logger?.error({ ...logContext, err: errorMessage(err) }, 'security notification could not be rendered');
  }
  if (!mailed && recorded) {
    try {
      await recordEvent(deps.conn, {
        accountId: account.id, actor: { type: 'system' }, event: 'notification_failed', at,
        details: { notification: kind, eventId: recorded.id },
      });
    } catch (err) {
      deps.logger?.error({ ...logContext, err: errorMessage(err) }, 'audit record of a failed notification could not be written');
    }
  }
  return mailed;
}
