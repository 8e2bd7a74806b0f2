/**
 * Threat: guessing an email code — one code guessed up to the end of its tries, a parallel burst of guesses at one
 * code, guesses spread over email and app codes to dodge the account-wide budget.
 */
import { expect } from 'chai';
import { createTotpFactor } from '../../../src/factors/totp/factor.ts';
import { DEFAULT_ATTEMPT_POLICY } from '../../../src/factors/shared/attempts.ts';
import { T0, TEST_ISSUER, enrolTotp, newAccount, otherCode, wrongCode } from '../support.ts';
import { enrolEmail, sendAndRead, setUpEmailBed, type EmailBed } from './bed.ts';
import { useFrozenClock } from '../../helpers/clock.ts';

describe('email code guessing', () => {
  let bed: EmailBed;
  const clock = useFrozenClock({ at: T0, each: true });

  before(async () => {
    bed = await setUpEmailBed('email_code_guessing');
  });
  after(async () => bed.close());

  it('allows five tries per code, counts them down, and refuses the sixth even with the right code', async () => {
    // A limiter that would allow far more: the per-code cap alone is under test.
    const factor = bed.variant();
    const account = newAccount();
    await enrolEmail(bed, account, factor);
    clock.tick(30_000);
    const code = await sendAndRead(bed, account, factor);
    const tries: unknown[] = [];
    for (let i = 0; i < 5; i += 1) tries.push(await factor.verify(account.id, otherCode(code)));
    expect(tries).to.deep.equal([4, 3, 2, 1, 0].map((triesLeft) => ({ ok: false, code: 'invalid_code', triesLeft })));
    expect(await factor.verify(account.id, code)).to.deep.equal({ ok: false, code: 'too_many_tries' });
    // A new code works again.
    clock.tick(30_000);
    expect(await factor.verify(account.id, await sendAndRead(bed, account, factor))).to.include({ ok: true });
  });

  it('compares at most five guesses of a parallel burst of 30 against one code', async () => {
    const factor = bed.variant();
    const account = newAccount();
    await enrolEmail(bed, account, factor);
    clock.tick(30_000);
    const code = await sendAndRead(bed, account, factor);
    const results = await Promise.all(Array.from({ length: 30 }, () => factor.verify(account.id, otherCode(code))));
    expect(results.filter((result) => !result.ok && result.code === 'invalid_code')).to.have.length(5);
    expect(results.filter((result) => !result.ok && result.code === 'too_many_tries')).to.have.length(25);
    expect(await factor.verify(account.id, code)).to.deep.equal({ ok: false, code: 'too_many_tries' });
  });

  it('counts email-code guesses in the shared second-factor budget: the sixth is refused as locked', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    clock.tick(30_000);
    const code = await sendAndRead(bed, account);
    for (let i = 0; i < DEFAULT_ATTEMPT_POLICY.failuresPerLockout; i += 1) await bed.email.verify(account.id, otherCode(code));
    expect(await bed.email.verify(account.id, code)).to.deep.include({ ok: false, code: 'locked', permanent: false });
    expect(await bed.attempts.status(account.id)).to.include({ locked: true, failures: 5 });
  });

  it('shares one budget between app codes and email codes of an account', async () => {
    const totp = createTotpFactor({ conn: bed.conn, secretBox: bed.secretBox, attempts: bed.attempts, issuer: TEST_ISSUER });
    const account = newAccount();
    const secret = await enrolTotp(totp, account);
    await enrolEmail(bed, account);
    clock.tick(30_000);
    const code = await sendAndRead(bed, account);
    for (let i = 0; i < 3; i += 1) expect(await totp.verify(account.id, await wrongCode(secret))).to.include({ code: 'invalid_code' });
    for (let i = 0; i < 2; i += 1) expect(await bed.email.verify(account.id, otherCode(code))).to.include({ code: 'invalid_code' });
    expect(await bed.email.verify(account.id, code)).to.include({ ok: false, code: 'locked' });
  });
});
