/**
 * The "recent security events" list in plain words (stable event names → sentences a customer understands).
 */
import type { AuditEvent, AuditEventName } from '../audit/audit_log.ts';

const WORDS: Record<AuditEventName, string> = {
  login_succeeded: 'Signed in',
  login_failed: 'A sign-in attempt failed',
  logout: 'Signed out',
  mfa_succeeded: 'Second factor confirmed',
  mfa_failed: 'A wrong second-factor code was entered',
  factor_enrolment_started: 'Started setting up a sign-in method',
  factor_added: 'Sign-in method added',
  factor_removed: 'Sign-in method removed',
  factors_reset: 'Your two-factor methods were reset',
  primary_factor_changed: 'Primary method changed',
  sign_in_mfa_enabled: 'Turned on: ask for a code at every sign-in',
  sign_in_mfa_disabled: 'Turned off: ask for a code at every sign-in',
  email_code_sent: 'A code was sent by email',
  email_code_send_failed: 'A code could not be sent by email',
  recovery_code_used: 'A recovery code was used',
  recovery_codes_regenerated: 'New recovery codes were generated',
  account_locked: 'Second factor locked after too many wrong codes',
  account_unlocked: 'Second factor unlocked',
  account_disabled: 'Your account was disabled',
  account_enabled: 'Your account was enabled again',
  password_changed: 'Password changed',
  password_reset: 'Password reset with a link sent by email',
  password_reset_requested: 'A password reset link was sent by email',
  notification_failed: 'A security email could not be delivered',
  company_policy_changed: 'Changed your company\'s two-factor policy',
  company_policy_forced: 'Your company now requires two-factor authentication',
  company_policy_notice_skipped: 'A repeated email about your company\'s two-factor policy was not sent',
};

export interface EventLine {
  readonly text: string;
  /** ISO time (the `datetime` attribute) and its readable UTC form. */
  readonly iso: string;
  readonly when: string;
  readonly ip?: string | undefined;
}

function detailText(event: AuditEvent): string | undefined {
  const method = event.details?.method;
  if (typeof method === 'string' && method.length > 0) return method;
  const remaining = event.details?.remaining;
  if (event.event === 'recovery_code_used' && typeof remaining === 'number') return `${remaining} left`;
  const company = event.details?.company;
  if (event.event === 'company_policy_forced' && typeof company === 'string' && company.length > 0) return company;
  return undefined;
}

export function describeEvents(events: readonly AuditEvent[]): EventLine[] {
  return events.map((event) => {
    const detail = detailText(event);
    const words = WORDS[event.event] ?? event.event;
    return {
      text: detail ? `${words}: ${detail}` : words,
      iso: event.at.toISOString(),
      when: `${event.at.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      ip: event.ip,
    };
  });
}
