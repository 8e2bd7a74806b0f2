/**
 * Security notifications (OWASP ASVS 2.5.5): one call writes the audit record and emails the account
 * holder. Best effort by design — the change it reports has already happened, so nothing here throws: a failed
 * mail is itself recorded (`notification_failed`) and reported as `{ mailed: false }`; a failed audit write is
 * logged and reported as `{ recorded: false }`, and the mail still goes out.
 */
import type { Connection } from 'mongoose';
import { recordEvent, type AuditActor, type AuditEvent } from '../audit/audit_log.ts';
import { renderNotification, type NotificationData, type NotificationFacts, type NotificationKind } from './templates.ts';
import { maskEmail } from '../shared/mask_email.ts';
import type { MailLogger, Mailer } from './transport.ts';

export interface NotifyDeps {
  readonly conn: Connection;
  readonly mailer: Mailer;
  /** The provider's name as customers know it. */
  readonly issuerName: string;
  /** Absolute URL of the security settings page, linked in the mail. */
  readonly accountUrl?: string | undefined;
  /** Where audit-write and rendering failures are logged (mail failures are logged by the mailer). */
  readonly logger?: MailLogger | undefined;
  /** Clock (tests freeze it). */
  readonly now?: (() => Date) | undefined;
}

/** Kinds whose facts are all optional may leave `details` out. */
type DetailsField<K extends NotificationKind> = Record<string, never> extends NotificationFacts[K]
  ? { readonly details?: NotificationFacts[K] | undefined }
  : { readonly details: NotificationFacts[K] };

export type NotifyInput<K extends NotificationKind> = {
  readonly account: { readonly id: string; readonly email: string; readonly name?: string | undefined };
  readonly kind: K;
  readonly ip?: string | undefined;
  readonly userAgent?: string | undefined;
  /** The shop the event happened for, if any (audit only). */
  readonly clientId?: string | undefined;
  /**
   * Who did it. Default: the account holder; for `factors_reset` the `details.by` role; for `company_policy_forced`
   * an admin (pass `{ type: 'admin', id }` to name them); for `account_locked` the system.
   */
  readonly actor?: AuditActor | undefined;
  /** More audit facts that the mail does not show (`{ factorId }`); sanitised like all details. */
  readonly auditDetails?: Readonly<Record<string, unknown>> | undefined;
} & DetailsField<K>;

export interface NotifyResult {
  /** The audit record was written. */
  readonly recorded: boolean;
  /** The mail was handed to the SMTP server (or the dev outbox). */
  readonly mailed: boolean;
  /** The audit record, when written. */
  readonly event?: AuditEvent;
}

function defaultActor(kind: NotificationKind, accountId: string, details: unknown): AuditActor {
  if (kind === 'account_locked') return { type: 'system' };
  if (kind === 'company_policy_forced') return { type: 'admin' };
  if (kind === 'factors_reset') return { type: (details as NotificationFacts['factors_reset']).by === 'admin' ? 'admin' : 'support' };
  return { type: 'user', id: accountId };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message.slice(0, 300) : String(err).slice(0, 300);
}

/** Writes the audit record of a security event and emails the account holder about it. Never throws. */
export async function notifySecurityEvent<K extends NotificationKind>(deps: NotifyDeps, input: NotifyInput<K>): Promise<NotifyResult> {
  const at = (deps.now ?? (() => new Date()))();
  const { account, kind } = input;
  const facts = (input.details ?? {}) as NotificationFacts[K];
  const actor = input.actor ?? defaultActor(kind, account.id, facts);
  const logContext = { accountId: account.id, kind, to: maskEmail(account.email) };

  let event: AuditEvent | undefined;
  try {
    event = await recordEvent(deps.conn, {
      accountId: account.id,
      actor,
      event: kind,
      at,
      ip: input.ip,
      userAgent: input.userAgent,
      clientId: input.clientId,
      details: { ...input.auditDetails, ...facts },
    });
  } catch (err) {
    deps.logger?.error({ ...logContext, err: errorMessage(err) }, 'audit record of a security event could not be written');
  }

  let mailed = false;
  try {
    const data = { ...facts, issuerName: deps.issuerName, name: account.name, accountUrl: deps.accountUrl, at, ip: input.ip, userAgent: input.userAgent };
    const mail = renderNotification(kind, data as NotificationData<K>);
    const sent = await deps.mailer.send({ to: account.email, ...mail });
    mailed = sent.ok;
  } catch (err) {
    // send() never throws; this is a rendering bug (bad facts) — the event is recorded, the mail is lost
    deps.logger?.error({ ...logContext, err: errorMessage(err) }, 'security notification could not be rendered');
  }

  if (!mailed && event) {
    try {
      await recordEvent(deps.conn, {
        accountId: account.id,
        actor: { type: 'system' },
        event: 'notification_failed',
        at,
        details: { notification: kind, eventId: event.id },
      });
    } catch (err) {
      deps.logger?.error({ ...logContext, err: errorMessage(err) }, 'audit record of a failed notification could not be written');
    }
  }
  return event ? { recorded: true, mailed, event } : { recorded: false, mailed };
}
