/**
 * The "recent security events" list in plain words: each stable event name has its sentence in the catalogues
 * (`console.event.<name>`), with the one detail a customer recognises (the method, the codes left, the company).
 */
import { AUDIT_EVENTS, type AuditEvent } from '../audit/audit_log.ts';
import { MESSAGE_ID, msg, type Message } from '../i18n/languages.ts';

const KNOWN: ReadonlySet<string> = new Set(AUDIT_EVENTS);

export interface EventLine {
  /** What happened: a message, or the stored event name when this version has no words for it. */
  readonly event: Message | string;
  /**
   * The detail after the event: `message` is shown with `t()` (a factor label — a message id, or the English words
   * older records stored — or a message), `text` as it was recorded (a company's name, never read as a message id).
   */
  readonly detail?: { readonly message: Message | string } | { readonly text: string } | undefined;
  /** When: the `datetime` attribute; the page writes it in its language and the account's time zone. */
  readonly at: Date;
  readonly iso: string;
  readonly ip?: string | undefined;
}

function detailOf(event: AuditEvent, knows: (id: string) => boolean): EventLine['detail'] {
  const method = event.details?.method;
  if (typeof method === 'string' && method.length > 0) {
    // The label of a factor this deployment no longer has words for is shown as it was stored.
    return MESSAGE_ID.test(method) && !knows(method) ? { text: method } : { message: method };
  }
  const remaining = event.details?.remaining;
  if (event.event === 'recovery_code_used' && typeof remaining === 'number') return { message: msg('console.events.codes_left', { remaining }) };
  const company = event.details?.company;
  if (event.event === 'company_policy_forced' && typeof company === 'string' && company.length > 0) return { text: company };
  return undefined;
}

/** The lines of `events`; `knows` tells the message ids of the catalogues (stored labels may predate them). */
export function describeEvents(events: readonly AuditEvent[], knows: (id: string) => boolean): EventLine[] {
  return events.map((event) => ({
    event: KNOWN.has(event.event) ? msg(`console.event.${event.event}`) : event.event,
    detail: detailOf(event, knows),
    at: event.at,
    iso: event.at.toISOString(),
    ip: event.ip,
  }));
}
