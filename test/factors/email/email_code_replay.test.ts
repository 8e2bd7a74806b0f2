/**
 * Threat: an email code is used twice — replayed after it signed in (a forwarded or shoulder-surfed mail), raced by
 * parallel requests carrying one code, or replayed on another server instance.
 */
import { expect } from 'chai';
import { createEmailCodeFactor } from '../../../src/factors/email/factor.ts';
import { createAttemptLimiter } from '../../../src/factors/shared/attempts.ts';
import { T0, connectSameDb, newAccount } from '../support.ts';
import { enrolEmail, sendAndRead, setUpEmailBed, type EmailBed } from './bed.ts';
import { useFrozenClock } from '../../helpers/clock.ts';

describe('email code replay', () => {
  let bed: EmailBed;
  const clock = useFrozenClock({ at: T0, each: true });

  before(async () => {
    bed = await setUpEmailBed('email_code_replay');
  });
  after(async () => bed.close());

  async function enrolledWithCode(): Promise<{ accountId: string; code: string }> {
    const account = newAccount();
    await enrolEmail(bed, account);
    clock.tick(30_000);
    return { accountId: account.id, code: await sendAndRead(bed, account) };
  }

  it('refuses a code that already signed in, as replayed', async () => {
    const { accountId, code } = await enrolledWithCode();
    expect(await bed.email.verify(accountId, code)).to.include({ ok: true });
    expect(await bed.email.verify(accountId, code)).to.deep.equal({ ok: false, code: 'code_replayed' });
    clock.tick(60_000);
    expect(await bed.email.verify(accountId, code)).to.deep.equal({ ok: false, code: 'code_replayed' });
  });

  it('refuses the enrolment code when it is submitted again', async () => {
    const account = newAccount();
    await bed.email.enrol.begin(account);
    const code = bed.sink.latestCode(account.email);
    expect(await bed.email.enrol.confirm(account.id, code)).to.include({ ok: true });
    expect(await bed.email.enrol.confirm(account.id, code)).to.deep.equal({ ok: false, code: 'not_enrolled' });
    expect(await bed.email.verify(account.id, code)).to.deep.equal({ ok: false, code: 'invalid_code' });
  });

  it('lets exactly one of 20 parallel verifications of one valid code succeed', async () => {
    const { accountId, code } = await enrolledWithCode();
    const results = await Promise.all(Array.from({ length: 20 }, () => bed.email.verify(accountId, code)));
    expect(results.filter((result) => result.ok)).to.have.length(1);
    const refusals = new Set(results.flatMap((result) => (result.ok ? [] : [result.code])));
    expect([...refusals].every((refusal) => refusal === 'code_replayed' || refusal === 'locked'), [...refusals].join()).to.equal(true);
  });

  it('lets exactly one of 20 parallel verifications succeed even when the attempt limiter admits them all', async () => {
    const generous = bed.variant({ triesPerCode: 100 });
    const account = newAccount();
    await enrolEmail(bed, account, generous);
    clock.tick(30_000);
    const code = await sendAndRead(bed, account, generous);
    const results = await Promise.all(Array.from({ length: 20 }, () => generous.verify(account.id, code)));
    expect(results.filter((result) => result.ok)).to.have.length(1);
    expect(results.filter((result) => !result.ok && result.code === 'code_replayed')).to.have.length(19);
  });

  it('lets exactly one of 20 parallel enrolment confirmations succeed', async () => {
    const account = newAccount();
    await bed.email.enrol.begin(account);
    const code = bed.sink.latestCode(account.email);
    const results = await Promise.all(Array.from({ length: 20 }, () => bed.email.enrol.confirm(account.id, code)));
    expect(results.filter((result) => result.ok)).to.have.length(1);
  });

  it('keeps a used code used for a second server instance on the same database', async () => {
    const { accountId, code } = await enrolledWithCode();
    const connB = await connectSameDb(bed.conn);
    try {
      const instanceB = createEmailCodeFactor({
        conn: connB, attempts: createAttemptLimiter(connB), codeMailer: bed.mailer, pepper: bed.emailPepper as Buffer,
      });
      expect(await bed.email.verify(accountId, code)).to.include({ ok: true });
      expect(await instanceB.verify(accountId, code)).to.deep.equal({ ok: false, code: 'code_replayed' });
    } finally {
      await connB.close();
    }
  });
});
