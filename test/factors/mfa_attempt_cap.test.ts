/**
 * Threat: guessing second-factor codes — a burst of parallel guesses, a slow guesser waiting out lockouts, guesses
 * spread over several server instances, guesses spread over several factors. Budget: 5 failures per lockout,
 * lockouts 1, 2, 4 … ≤ 60 min, and never more than 100 consecutive failures per account (NIST SP 800-63B §5.2.2):
 * 90 in the shared bucket of the app and email codes, 10 for recovery codes.
 */
import { expect } from 'chai';
import type { Factor, VerifyResult } from '../../src/factors/contract.ts';
import { RECOVERY_FACTOR_ID, type RecoveryFactor } from '../../src/factors/recovery/factor.ts';
import {
  ATTEMPT_ANSWER_MS, DEFAULT_ATTEMPT_POLICY, RECOVERY_CODE_FAILURE_SHARE, SECOND_FACTOR_FAILURE_CAP, createAttemptLimiter, lockoutMs,
  resetAttempts, type AttemptLimiter,
} from '../../src/factors/shared/attempts.ts';
import { createTotpFactor, type TotpFactor } from '../../src/factors/totp/factor.ts';
import {
  T0, TEST_ISSUER, appCode, connectSameDb, enrolTotp, newAccount, setUpFactors, wrongCode, type FactorBed,
} from './support.ts';
import { useFrozenClock } from '../helpers/clock.ts';

const MINUTE = 60_000;

describe('mfa attempt cap', () => {
  let bed: FactorBed;
  let totp: TotpFactor;
  const clock = useFrozenClock({ at: T0, each: true });

  before(async () => {
    bed = await setUpFactors('mfa_attempt_cap');
    totp = createTotpFactor({ conn: bed.conn, secretBox: bed.secretBox, attempts: bed.attempts, issuer: TEST_ISSUER });
  });
  after(async () => bed.conn.close());

  async function enrolled(): Promise<{ accountId: string; secret: string }> {
    const account = newAccount();
    const secret = await enrolTotp(totp, account);
    clock.tick(30_000); // past the step the enrolment consumed
    return { accountId: account.id, secret };
  }

  async function wrongGuess(accountId: string, secret: string, factor: Factor = totp): Promise<VerifyResult> {
    return factor.verify(accountId, await wrongCode(secret));
  }

  /** Fails until locked, then returns the lock's end (ms). */
  async function failUntilLocked(accountId: string, secret: string): Promise<number | undefined> {
    for (let i = 0; i < 10; i += 1) {
      const result = await wrongGuess(accountId, secret);
      if (!result.ok && result.code === 'locked') return result.until?.getTime();
    }
    throw new Error('never locked');
  }

  it('lets a concurrent burst of 50 wrong codes through the budget of 5 at most', async () => {
    const { accountId, secret } = await enrolled();
    const wrong = await wrongCode(secret);
    const results = await Promise.all(Array.from({ length: 50 }, () => totp.verify(accountId, wrong)));
    const checked = results.filter((result) => !result.ok && result.code === 'invalid_code');
    const locked = results.filter((result) => !result.ok && result.code === 'locked');
    expect(checked).to.have.length(DEFAULT_ATTEMPT_POLICY.failuresPerLockout);
    expect(locked).to.have.length(50 - DEFAULT_ATTEMPT_POLICY.failuresPerLockout);
    expect(await bed.attempts.status(accountId)).to.include({ locked: true, failures: 5, permanent: false });
  });

  it('splits no extra guesses out of a burst spread over two server instances', async () => {
    const { accountId, secret } = await enrolled();
    const connB = await connectSameDb(bed.conn);
    try {
      const totpB = createTotpFactor({ conn: connB, secretBox: bed.secretBox, attempts: createAttemptLimiter(connB), issuer: TEST_ISSUER });
      const wrong = await wrongCode(secret);
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? totpB : totp).verify(accountId, wrong)));
      expect(results.filter((result) => !result.ok && result.code === 'invalid_code')).to.have.length(5);
    } finally {
      await connB.close();
    }
  });

  it('answers a check that finished too late "locked", counts it, and uses up no code: the same code works in time', async () => {
    const { accountId, secret } = await enrolled();
    // A limiter whose checks take longer than an attempt may (a stalled database, an overloaded instance).
    const slow: AttemptLimiter = {
      ...bed.attempts,
      guard: (id, check, options) => bed.attempts.guard(id, async (attempt) => {
        clock.tick(ATTEMPT_ANSWER_MS + 1);
        return check(attempt);
      }, options),
    };
    const slowTotp = createTotpFactor({ conn: bed.conn, secretBox: bed.secretBox, attempts: slow, issuer: TEST_ISSUER });
    const code = await appCode(secret);
    expect(await slowTotp.verify(accountId, code)).to.include({ ok: false, code: 'locked' });
    expect(await bed.attempts.status(accountId)).to.include({ failures: 1 });
    expect(await totp.verify(accountId, code)).to.include({ ok: true });
  });

  it('refuses even the right code while locked, without checking it', async () => {
    const { accountId, secret } = await enrolled();
    const until = await failUntilLocked(accountId, secret);
    expect(until).to.equal(Date.now() + MINUTE);
    const result = await totp.verify(accountId, await appCode(secret));
    expect(result).to.deep.equal({ ok: false, code: 'locked', until: new Date(T0 + 30_000 + MINUTE), permanent: false });
  });

  it('tells the fifth wrong code that it started a lockout', async () => {
    const { accountId, secret } = await enrolled();
    for (let i = 0; i < 4; i += 1) expect(await wrongGuess(accountId, secret)).to.deep.equal({ ok: false, code: 'invalid_code' });
    expect(await wrongGuess(accountId, secret)).to.deep.equal({
      ok: false, code: 'invalid_code', lock: { until: new Date(Date.now() + MINUTE), permanent: false, failures: 5 },
    });
  });

  it('allows attempts again once the lockout has expired, and the right code then works', async () => {
    const { accountId, secret } = await enrolled();
    const until = await failUntilLocked(accountId, secret) as number;
    clock.setSystemTime(until - 1);
    expect(await wrongGuess(accountId, secret)).to.include({ code: 'locked' });
    clock.setSystemTime(until);
    expect(await totp.verify(accountId, await appCode(secret))).to.include({ ok: true });
  });

  it('grows the lockout with each round of failures: 1, 2, 4, 8 minutes', async () => {
    const { accountId, secret } = await enrolled();
    const lengths: number[] = [];
    for (let round = 0; round < 4; round += 1) {
      const start = Date.now();
      const until = await failUntilLocked(accountId, secret) as number;
      lengths.push(until - start);
      clock.setSystemTime(until);
    }
    expect(lengths).to.deep.equal([1, 2, 4, 8].map((minutes) => minutes * MINUTE));
  });

  it('caps the backoff at one hour', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50].map((n) => lockoutMs(DEFAULT_ATTEMPT_POLICY, n) / MINUTE))
      .to.deep.equal([1, 2, 4, 8, 16, 32, 60, 60, 60]);
  });

  it('resets the consecutive count on a success', async () => {
    const { accountId, secret } = await enrolled();
    for (let i = 0; i < 4; i += 1) await wrongGuess(accountId, secret);
    expect(await totp.verify(accountId, await appCode(secret))).to.include({ ok: true });
    expect(await bed.attempts.status(accountId)).to.deep.equal({ locked: false, failures: 0, attemptsBeforeLockout: 5 });
    for (let i = 0; i < 4; i += 1) expect(await wrongGuess(accountId, secret)).to.deep.equal({ ok: false, code: 'invalid_code' });
    expect(await bed.attempts.status(accountId)).to.include({ locked: false, failures: 4 });
  });

  it('resets the backoff on a success: the next lockout is one minute again', async () => {
    const { accountId, secret } = await enrolled();
    clock.setSystemTime(await failUntilLocked(accountId, secret) as number);
    clock.setSystemTime(await failUntilLocked(accountId, secret) as number);
    expect(await totp.verify(accountId, await appCode(secret))).to.include({ ok: true });
    const start = Date.now();
    expect(await failUntilLocked(accountId, secret)).to.equal(start + MINUTE);
  });

  describe('after 90 consecutive failures of the app code', () => {
    /** Guesses wrong, waiting out every lockout, until the factor is locked for good; returns the codes checked. */
    async function failUntilPermanent(accountId: string, secret: string, factor: Factor = totp): Promise<number> {
      let failures = 0;
      for (let guesses = 0; guesses < 200; guesses += 1) {
        const result = await wrongGuess(accountId, secret, factor);
        if (result.ok) throw new Error('a wrong guess passed');
        if (result.code === 'invalid_code') failures += 1;
        else if (result.code === 'locked' && result.permanent) return failures;
        else if (result.code === 'locked' && result.until) clock.setSystemTime(result.until.getTime());
        else throw new Error(`unexpected ${result.code}`);
      }
      throw new Error(`never locked for good after ${failures} failures`);
    }

    it('locks the second factor permanently: exactly 90 codes were checked, and no wait ends it', async () => {
      const { accountId, secret } = await enrolled();
      expect(await failUntilPermanent(accountId, secret)).to.equal(90);
      const locked = await totp.verify(accountId, await appCode(secret));
      expect(locked).to.deep.equal({ ok: false, code: 'locked', permanent: true });
      clock.tick(30 * 24 * 60 * MINUTE);
      expect(await totp.verify(accountId, await appCode(secret))).to.deep.equal({ ok: false, code: 'locked', permanent: true });
      expect(await bed.attempts.status(accountId)).to.include({ locked: true, permanent: true, failures: 90 });
    });

    it('never allows more than 100 consecutive failures per account, app codes and recovery codes together', async () => {
      const account = newAccount();
      const secret = await enrolTotp(totp, account);
      clock.tick(30_000);
      const recovery = bed.registry.get(RECOVERY_FACTOR_ID) as RecoveryFactor;
      await recovery.generate(account.id);
      const appFailures = await failUntilPermanent(account.id, secret);
      const recoveryFailures = await failUntilPermanent(account.id, secret, {
        ...recovery, verify: async (id: string) => recovery.verify(id, 'aaaaaa-bbbbbb-cccccc-dddddd'),
      });
      expect([appFailures, recoveryFailures]).to.deep.equal([90, RECOVERY_CODE_FAILURE_SHARE]);
      expect(appFailures + recoveryFailures).to.equal(SECOND_FACTOR_FAILURE_CAP);
      expect(await totp.verify(account.id, await appCode(secret))).to.deep.equal({ ok: false, code: 'locked', permanent: true });
      const [stillValid] = await recovery.generate(account.id);
      expect(await recovery.verify(account.id, stillValid)).to.deep.equal({ ok: false, code: 'locked', permanent: true });
      expect(await resetAttempts(bed.conn, account.id)).to.equal(true);
      expect(await recovery.verify(account.id, stillValid)).to.include({ ok: true });
    });

    it('stays locked until support resets it, then the right code works', async () => {
      const { accountId, secret } = await enrolled();
      await failUntilPermanent(accountId, secret);
      expect(await resetAttempts(bed.conn, accountId)).to.equal(true);
      expect(await totp.verify(accountId, await appCode(secret))).to.include({ ok: true });
    });

    it('is lifted by a recovery code, which says so', async () => {
      const account = newAccount();
      const secret = await enrolTotp(totp, account);
      clock.tick(30_000);
      const recovery = bed.registry.get(RECOVERY_FACTOR_ID) as RecoveryFactor;
      const [code] = await recovery.generate(account.id);
      await failUntilPermanent(account.id, secret);
      expect(await recovery.verify(account.id, code)).to.include({ ok: true, unlocked: true, remaining: 9 });
      expect(await totp.verify(account.id, await appCode(secret))).to.include({ ok: true });
    });
  });

  it('counts recovery-code guesses in their own bucket, 5 per lockout', async () => {
    const account = newAccount();
    const recovery = bed.registry.get(RECOVERY_FACTOR_ID) as RecoveryFactor;
    await recovery.generate(account.id);
    const results = await Promise.all(Array.from({ length: 20 }, () => recovery.verify(account.id, 'aaaaaa-bbbbbb-cccccc-dddddd')));
    expect(results.filter((result) => !result.ok && result.code === 'invalid_code')).to.have.length(5);
    expect(results.filter((result) => !result.ok && result.code === 'locked')).to.have.length(15);
  });
});
