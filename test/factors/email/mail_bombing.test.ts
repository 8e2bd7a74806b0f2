/**
 * Threat: the "send code" button used to flood a customer's inbox (mail bombing) — repeated clicks, a script
 * sending in parallel, a slow drip all hour long. Budget: one code per 30 s, at most 5 codes per hour per account.
 */
import { expect } from 'chai';
import { T0, newAccount } from '../support.ts';
import { enrolEmail, setUpEmailBed, type EmailBed } from './bed.ts';
import { useFrozenClock } from '../../helpers/clock.ts';

const MINUTE = 60_000;

describe('mail bombing', () => {
  let bed: EmailBed;
  const clock = useFrozenClock({ at: T0, each: true });

  before(async () => {
    bed = await setUpEmailBed('mail_bombing');
  });
  after(async () => bed.close());

  it('refuses a resend within 30 seconds, saying how long to wait, and allows it after', async () => {
    const account = newAccount();
    await enrolEmail(bed, account); // the enrolment mail counts too
    expect(await bed.email.challenge.send(account)).to.deep.equal({ ok: false, code: 'resend_too_soon', retryAfterSeconds: 30 });
    clock.tick(29_500);
    expect(await bed.email.challenge.send(account)).to.deep.equal({ ok: false, code: 'resend_too_soon', retryAfterSeconds: 1 });
    clock.tick(500);
    expect(await bed.email.challenge.send(account)).to.include({ ok: true });
    expect(bed.sink.mailsTo(account.email)).to.have.length(2);
  });

  it('keeps the live code working when a resend is refused', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    clock.tick(30_000);
    await bed.email.challenge.send(account);
    const code = bed.sink.latestCode(account.email);
    expect(await bed.email.challenge.send(account)).to.include({ code: 'resend_too_soon' });
    expect(await bed.email.verify(account.id, code)).to.include({ ok: true });
  });

  it('sends at most 5 codes per hour, then refuses with too_many_codes until the oldest is an hour old', async () => {
    const account = newAccount();
    await enrolEmail(bed, account); // code 1, at T0
    for (let i = 2; i <= 5; i += 1) {
      clock.tick(MINUTE);
      expect(await bed.email.challenge.send(account), `code ${i}`).to.include({ ok: true });
    }
    clock.tick(MINUTE); // T0 + 5 min
    expect(await bed.email.challenge.send(account)).to.deep.equal({ ok: false, code: 'too_many_codes', retryAfterSeconds: 55 * 60 });
    clock.setSystemTime(T0 + 60 * MINUTE - 1);
    expect(await bed.email.challenge.send(account)).to.include({ ok: false, code: 'too_many_codes' });
    clock.setSystemTime(T0 + 60 * MINUTE);
    expect(await bed.email.challenge.send(account)).to.include({ ok: true });
    expect(await bed.email.challenge.send(account)).to.include({ ok: false });
    expect(bed.sink.mailsTo(account.email)).to.have.length(6);
  });

  it('sends one mail for a burst of 20 parallel send requests', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    clock.tick(30_000);
    const results = await Promise.all(Array.from({ length: 20 }, () => bed.email.challenge.send(account)));
    expect(results.filter((result) => result.ok)).to.have.length(1);
    expect(results.filter((result) => !result.ok && result.code === 'resend_too_soon')).to.have.length(19);
    expect(bed.sink.mailsTo(account.email)).to.have.length(2);
    expect(await bed.email.verify(account.id, bed.sink.latestCode(account.email))).to.include({ ok: true });
  });

  it('sends no code while the second factor is locked by failed attempts', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    clock.tick(30_000);
    for (let i = 0; i < 5; i += 1) await bed.email.verify(account.id, '000000');
    clock.tick(30_000);
    expect(await bed.email.challenge.send(account)).to.deep.equal({ ok: false, code: 'locked', permanent: false, until: new Date(T0 + 30_000 + MINUTE) });
    expect(bed.sink.mailsTo(account.email)).to.have.length(1);
    clock.setSystemTime(T0 + 30_000 + MINUTE);
    expect(await bed.email.challenge.send(account)).to.include({ ok: true });
  });

  it('keeps the budget when the factor is removed and enrolled again', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    await bed.email.remove(account.id);
    expect(await bed.email.enrol.begin(account)).to.deep.equal({ ok: false, code: 'resend_too_soon', retryAfterSeconds: 30 });
    expect(bed.sink.mailsTo(account.email)).to.have.length(1);
  });
});
