/**
 * Threat and failure: the SMTP server is unreachable. The customer must get a clear `mail_failed` (never a throw),
 * nothing half-written may stay behind — no stored code that could be used, no pending enrolment, no cooldown or
 * hourly budget used up — and a retry must work once mail flows again (or another method can be picked).
 */
import { expect } from 'chai';
import { T0, newAccount } from '../support.ts';
import { enrolEmail, setUpEmailBed, type EmailBed } from './bed.ts';
import { closedPort } from './smtp_sink.ts';
import { useFrozenClock } from '../../helpers/clock.ts';

describe('email code: SMTP unreachable', () => {
  let bed: EmailBed;
  const clock = useFrozenClock({ at: T0, each: true });
  let deadPort: number;

  before(async () => {
    bed = await setUpEmailBed('mail_failure');
    deadPort = await closedPort();
  });
  after(async () => bed.close());
  afterEach(() => {
    bed.mailer.usePort(bed.sink.port);
  });

  /** The stored document without `rev` (a revision counter that every reservation moves, rolled back or not). */
  const raw = async (accountId: string) => {
    const doc = await bed.conn.collection('email_code_factors').findOne({ _id: accountId as never });
    if (!doc) return doc;
    const { rev: _rev, ...rest } = doc;
    return rest;
  };

  it('answers a sign-in send with mail_failed, stores no usable code, and a retry right away works', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    clock.tick(30_000);
    const before = await raw(account.id);
    bed.mailer.usePort(deadPort);
    expect(await bed.email.challenge.send(account)).to.deep.equal({ ok: false, code: 'mail_failed' });
    const undelivered = bed.mailer.attempted.at(-1) as string;
    expect(await raw(account.id)).to.deep.equal(before);
    expect(await bed.email.verify(account.id, undelivered)).to.deep.equal({ ok: false, code: 'invalid_code' });

    bed.mailer.usePort(bed.sink.port);
    const retried = await bed.email.challenge.send(account); // no cooldown: the failed send did not count
    expect(retried).to.include({ ok: true });
    expect(await bed.email.verify(account.id, bed.sink.latestCode(account.email))).to.include({ ok: true });
  });

  it('keeps the earlier code working when a resend fails', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    clock.tick(30_000);
    await bed.email.challenge.send(account);
    const code = bed.sink.latestCode(account.email);
    clock.tick(30_000);
    bed.mailer.usePort(deadPort);
    expect(await bed.email.challenge.send(account)).to.deep.equal({ ok: false, code: 'mail_failed' });
    expect(await bed.email.verify(account.id, code)).to.include({ ok: true });
  });

  it('uses up none of the hourly budget with failed sends', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    bed.mailer.usePort(deadPort);
    for (let i = 0; i < 6; i += 1) {
      clock.tick(30_000);
      expect(await bed.email.challenge.send(account)).to.deep.equal({ ok: false, code: 'mail_failed' });
    }
    bed.mailer.usePort(bed.sink.port);
    for (let i = 2; i <= 5; i += 1) {
      clock.tick(30_000);
      expect(await bed.email.challenge.send(account), `code ${i}`).to.include({ ok: true });
    }
  });

  it('leaves no pending enrolment when the enrolment mail fails, and enrolment can start again', async () => {
    const account = newAccount();
    bed.mailer.usePort(deadPort);
    expect(await bed.email.enrol.begin(account)).to.deep.equal({ ok: false, code: 'mail_failed' });
    const undelivered = bed.mailer.attempted.at(-1) as string;
    expect(await raw(account.id)).to.include({ active: null, pending: null, code: null });
    expect(await bed.email.enrol.confirm(account.id, undelivered)).to.deep.equal({ ok: false, code: 'not_enrolled' });
    expect(await bed.email.isEnrolled(account.id)).to.equal(false);

    bed.mailer.usePort(bed.sink.port);
    await enrolEmail(bed, account);
    expect(await bed.email.isEnrolled(account.id)).to.equal(true);
  });

  it('treats a mailer that throws like a failed send, and stores nothing', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    clock.tick(30_000);
    const before = await raw(account.id);
    const throwing = bed.variant({
      attempts: bed.attempts,
      codeMailer: {
        async sendCode() {
          throw new Error('a broken mail adapter');
        },
      },
    });
    expect(await throwing.challenge.send(account)).to.deep.equal({ ok: false, code: 'mail_failed' });
    expect(await raw(account.id)).to.deep.equal(before);
  });
});
