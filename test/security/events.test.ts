import { expect } from 'chai';
import type mongoose from 'mongoose';
import { listEvents } from '../../src/audit/audit_log.ts';
import { NOTIFICATION_KINDS, type NotificationKind } from '../../src/mail/templates.ts';
import { createMailer, type Mailer } from '../../src/mail/transport.ts';
import {
  recordSecurityEvent, type EventResult, type NotifiedEvent, type Origin, type SecurityEventsDeps,
} from '../../src/security/events.ts';
import { connectFreshDb } from '../helpers/db.ts';
import { captureLogger, closedPort, startSmtp, type TestSmtp } from '../mail/support.ts';

const ISSUER = 'Keys Express';
const AT = new Date('2026-11-25T19:20:00Z');
const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0';

/** The kind-specific facts each notification needs, and one fact each mail must show. */
/** An event with where it came from, as one object (what the pages pass in two). */
type NotifyInput<K extends NotificationKind> = NotifiedEvent<K> & Origin;

function record<K extends NotificationKind>(deps: SecurityEventsDeps, input: NotifyInput<K>): Promise<EventResult> {
  const { ip, userAgent, clientId, actor, ...event } = input;
  return recordSecurityEvent(deps, { ip, userAgent, clientId, actor }, event as unknown as NotifiedEvent<K>);
}

const CASES: { [K in NotificationKind]: { details: NotifyInput<K>['details']; shows: string } } = {
  factor_added: { details: { method: 'Authenticator app' }, shows: 'Method: Authenticator app' },
  factor_removed: { details: { method: 'Email code' }, shows: 'Method: Email code' },
  factors_reset: { details: { by: 'support' }, shows: 'Reset by: Keys Express support' },
  recovery_code_used: { details: { remaining: 4 }, shows: 'Recovery codes left: 4' },
  recovery_codes_regenerated: { details: {}, shows: 'earlier recovery codes no longer work' },
  account_locked: { details: { until: new Date('2026-11-25T19:35:00Z'), failures: 5 }, shows: 'Locked until: 25 November 2026 at 19:35 UTC' },
  password_changed: { details: {}, shows: 'Your other devices were signed out' },
  password_reset: { details: { otherBrowser: true }, shows: 'Link opened in: a different browser' },
  company_policy_forced: { details: { company: 'Acme GmbH', enrolled: true }, shows: 'Acme GmbH now requires two-factor authentication' },
};

function input<K extends NotificationKind>(kind: K, accountId: string): NotifyInput<K> {
  return {
    account: { id: accountId, email: `${accountId}@example.com`, name: 'Max Muster' },
    kind,
    ip: '203.0.113.9',
    userAgent: FIREFOX_WINDOWS,
    clientId: 'demo-shop',
    details: CASES[kind].details,
  } as NotifyInput<K>;
}

describe('security events: the audit record and the customer\'s mail', () => {
  let conn: mongoose.Connection;
  let smtp: TestSmtp;
  let mailer: Mailer;
  let deps: SecurityEventsDeps;

  before(async () => {
    conn = await connectFreshDb('notify');
    smtp = await startSmtp();
    mailer = createMailer({ smtpUrl: smtp.url, from: 'no-reply@keys.example', issuerName: ISSUER, production: true });
    deps = { conn, mail: { mailer, issuerName: ISSUER }, now: () => AT };
  });
  after(async () => {
    await mailer.close();
    await smtp.close();
    await conn.close();
  });

  for (const kind of NOTIFICATION_KINDS) {
    it(`${kind}: the mail arrives through SMTP and the audit record exists`, async () => {
      const accountId = `acc-${kind}`;
      const result = await record(deps, input(kind, accountId));
      expect(result).to.include({ recorded: true, mailed: true });

      const { parsed, envelopeTo } = await smtp.next();
      expect(envelopeTo).to.deep.equal([`${accountId}@example.com`]);
      expect(parsed.subject).to.include(ISSUER);
      const text = String(parsed.text);
      expect(text).to.include(CASES[kind].shows);
      expect(text).to.include('When: 25 November 2026 at 19:20 UTC').and.include('IP address: 203.0.113.9').and.include('Device: Firefox on Windows');
      expect(String(parsed.html)).to.not.match(/<img|https?:/i);

      const events = await listEvents(conn, accountId);
      expect(events).to.have.length(1);
      expect(events[0]).to.deep.include({ accountId, event: kind, at: AT, ip: '203.0.113.9', userAgent: FIREFOX_WINDOWS, clientId: 'demo-shop' });
      expect(result.event?.id).to.equal(events[0]?.id);
    });
  }

  it('records who did it: the user by default, support or an admin for a reset or a forced policy, the system for a lockout', async () => {
    await record(deps, input('factor_added', 'acc-actor-user'));
    await record(deps, { ...input('factors_reset', 'acc-actor-admin'), details: { by: 'admin' }, actor: { type: 'admin', id: 'acc-boss' } });
    await record(deps, { ...input('factors_reset', 'acc-actor-support'), details: { by: 'support' } });
    await record(deps, input('account_locked', 'acc-actor-system'));
    await record(deps, input('company_policy_forced', 'acc-actor-policy'));
    expect((await listEvents(conn, 'acc-actor-user'))[0]?.actor).to.deep.equal({ type: 'user', id: 'acc-actor-user' });
    expect((await listEvents(conn, 'acc-actor-admin'))[0]?.actor).to.deep.equal({ type: 'admin', id: 'acc-boss' });
    expect((await listEvents(conn, 'acc-actor-support'))[0]?.actor).to.deep.equal({ type: 'support' });
    expect((await listEvents(conn, 'acc-actor-system'))[0]?.actor).to.deep.equal({ type: 'system' });
    expect((await listEvents(conn, 'acc-actor-policy'))[0]?.actor).to.deep.equal({ type: 'admin' });
    const admin = smtp.received.find((m) => m.envelopeTo.includes('acc-actor-admin@example.com'));
    expect(String(admin?.parsed.text)).to.include('removed by your company administrator');
  });

  it('stores the facts and extra audit details in the record, never a secret', async () => {
    await record(deps, { ...input('recovery_code_used', 'acc-facts'), auditDetails: { factorId: 'recovery', code: 'abcd-efgh-jkmn' } });
    const [recorded] = await listEvents(conn, 'acc-facts');
    expect(recorded?.details).to.deep.equal({ factorId: 'recovery', remaining: 4 });
    const raw = JSON.stringify(await conn.collection('audit_events').find({ accountId: 'acc-facts' }).toArray());
    expect(raw).to.not.include('abcd-efgh');
  });
});

describe('security notifications: failures', () => {
  let conn: mongoose.Connection;

  before(async () => {
    conn = await connectFreshDb('notify_fail');
  });
  after(async () => conn.close());

  it('an unreachable SMTP server: the audit record is still written, the failure recorded, nothing thrown', async () => {
    const logger = captureLogger();
    const mailer = createMailer({ smtpUrl: `smtp://127.0.0.1:${await closedPort()}`, from: 'no-reply@keys.example', issuerName: ISSUER, production: true, logger });
    try {
      const result = await record({ conn, mail: { mailer, issuerName: ISSUER }, now: () => AT }, input('factor_removed', 'acc-nomail'));
      expect(result).to.include({ recorded: true, mailed: false });
      const events = await listEvents(conn, 'acc-nomail');
      expect(events.map((e) => e.event)).to.have.members(['factor_removed', 'notification_failed']);
      const failed = events.find((e) => e.event === 'notification_failed');
      expect(failed?.details).to.deep.equal({ notification: 'factor_removed', eventId: result.event?.id });
      expect(failed?.actor).to.deep.equal({ type: 'system' });
      expect(logger.entries.filter((e) => e.level === 'error')).to.have.length(1);
    } finally {
      await mailer.close();
    }
  });

  it('facts the template cannot render: the audit record stays, the mail is reported as not sent', async () => {
    const logger = captureLogger();
    const mailer = createMailer({ from: 'no-reply@keys.example', issuerName: ISSUER, production: false });
    const bad = { ...input('recovery_code_used', 'acc-badfacts'), details: { remaining: -3 } };
    const result = await record({ conn, mail: { mailer, issuerName: ISSUER }, logger }, bad);
    expect(result).to.include({ recorded: true, mailed: false });
    expect(mailer.outbox()).to.have.length(0);
    expect((await listEvents(conn, 'acc-badfacts')).map((e) => e.event)).to.have.members(['recovery_code_used', 'notification_failed']);
    expect(logger.entries.map((e) => e.msg)).to.deep.equal(['security notification could not be rendered']);
  });

  it('a database that is gone: the mail still goes out, nothing thrown', async () => {
    const gone = await connectFreshDb('notify_gone');
    await gone.close();
    const logger = captureLogger();
    const mailer = createMailer({ from: 'no-reply@keys.example', issuerName: ISSUER, production: false });
    const result = await record({ conn: gone, mail: { mailer, issuerName: ISSUER }, logger }, input('factor_added', 'acc-nodb'));
    expect(result).to.deep.equal({ recorded: false, mailed: true });
    expect(mailer.outbox()?.[0]?.to).to.equal('acc-nodb@example.com');
    expect(logger.entries.map((e) => e.msg)).to.deep.equal(['audit record of a security event could not be written']);
  });

  it('without a mailer, a notified kind is audited only; an audit-only kind never mails', async () => {
    const audited = await recordSecurityEvent({ conn, now: () => AT }, { ip: '203.0.113.9' }, { kind: 'factor_added', account: { id: 'acc-audit-only', email: 'acc-audit-only@example.com' }, details: { method: 'Authenticator app' } });
    expect(audited).to.include({ recorded: true, mailed: false });
    const mailer = createMailer({ from: 'no-reply@keys.example', issuerName: ISSUER, production: false });
    const unlocked = await recordSecurityEvent({ conn, mail: { mailer, issuerName: ISSUER } }, { actor: { type: 'support', id: 'desk' } }, { kind: 'account_unlocked', account: { id: 'acc-unlocked' }, details: { scope: 'password' } });
    expect(unlocked).to.include({ recorded: true, mailed: false });
    expect(mailer.outbox(), 'no mail for an audit-only event').to.have.length(0);
    expect(await listEvents(conn, 'acc-audit-only')).to.have.length(1);
    expect((await listEvents(conn, 'acc-unlocked'))[0]).to.deep.include({ event: 'account_unlocked', actor: { type: 'support', id: 'desk' }, details: { scope: 'password' } });
  });
});
