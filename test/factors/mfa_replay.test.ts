/**
 * Threat: a one-time code is used twice — sequentially (a shoulder-surfed or phished code replayed) or in parallel
 * (a race between two requests carrying one code, possibly on two server instances).
 */
import { expect } from 'chai';
import { createAttemptLimiter } from '../../src/factors/shared/attempts.ts';
import { createTotpFactor, type TotpFactor } from '../../src/factors/totp/factor.ts';
import {
  T0, TEST_ISSUER, appCode, connectSameDb, enrolTotp, newAccount, setUpFactors, type FactorBed,
} from './support.ts';
import { freezeClock, type FrozenClock } from '../helpers/clock.ts';

describe('mfa replay: TOTP time window and single use', () => {
  let bed: FactorBed;
  let totp: TotpFactor;
  let clock: FrozenClock | undefined;

  before(async () => {
    bed = await setUpFactors('mfa_replay');
    totp = createTotpFactor({ conn: bed.conn, secretBox: bed.secretBox, attempts: bed.attempts, issuer: TEST_ISSUER });
  });
  after(async () => bed.conn.close());
  afterEach(() => {
    clock?.uninstall();
    clock = undefined;
  });

  /** An account enrolled at T0 (the confirmation used step T0), with the clock then moved to `nowMs`. */
  async function enrolledAt(nowMs: number): Promise<{ accountId: string; secret: string }> {
    if (clock) clock.setSystemTime(T0);
    else clock = freezeClock(T0);
    const account = newAccount();
    const secret = await enrolTotp(totp, account);
    clock.setSystemTime(nowMs);
    return { accountId: account.id, secret };
  }

  it('accepts the code of the previous and of the next time step (±1 step of clock drift)', async () => {
    const now = T0 + 10 * 30_000 + 10_000;
    const previous = await enrolledAt(now);
    expect(await totp.verify(previous.accountId, await appCode(previous.secret, now - 30_000))).to.include({ ok: true });
    const next = await enrolledAt(now);
    expect(await totp.verify(next.accountId, await appCode(next.secret, now + 30_000))).to.include({ ok: true });
    const current = await enrolledAt(now);
    expect(await totp.verify(current.accountId, await appCode(current.secret, now))).to.include({ ok: true });
  });

  it('refuses the code of two steps ago and of two steps ahead', async () => {
    const now = T0 + 10 * 30_000 + 10_000;
    const { accountId, secret } = await enrolledAt(now);
    expect(await totp.verify(accountId, await appCode(secret, now - 60_000))).to.deep.equal({ ok: false, code: 'invalid_code' });
    expect(await totp.verify(accountId, await appCode(secret, now + 60_000))).to.deep.equal({ ok: false, code: 'invalid_code' });
  });

  it('refuses an accepted code when it is submitted again in the same step', async () => {
    const now = T0 + 5 * 30_000;
    const { accountId, secret } = await enrolledAt(now);
    const code = await appCode(secret, now);
    expect(await totp.verify(accountId, code)).to.include({ ok: true });
    expect(await totp.verify(accountId, code)).to.deep.equal({ ok: false, code: 'code_replayed' });
  });

  it('refuses an accepted code replayed in the next step, while it is still inside the window', async () => {
    const now = T0 + 5 * 30_000;
    const { accountId, secret } = await enrolledAt(now);
    const code = await appCode(secret, now);
    expect(await totp.verify(accountId, code)).to.include({ ok: true });
    clock?.tick(30_000);
    expect(await totp.verify(accountId, code)).to.deep.equal({ ok: false, code: 'code_replayed' });
  });

  it('refuses an older step once a newer one was accepted', async () => {
    const now = T0 + 5 * 30_000;
    const { accountId, secret } = await enrolledAt(now);
    expect(await totp.verify(accountId, await appCode(secret, now + 30_000))).to.include({ ok: true });
    expect(await totp.verify(accountId, await appCode(secret, now))).to.deep.equal({ ok: false, code: 'code_replayed' });
  });

  it('lets exactly one of 50 parallel submissions of one valid code succeed', async () => {
    const now = T0 + 5 * 30_000;
    const { accountId, secret } = await enrolledAt(now);
    const code = await appCode(secret, now);
    const results = await Promise.all(Array.from({ length: 50 }, () => totp.verify(accountId, code)));
    expect(results.filter((result) => result.ok)).to.have.length(1);
    const refusals = new Set(results.flatMap((result) => (result.ok ? [] : [result.code])));
    expect([...refusals].every((code) => code === 'code_replayed' || code === 'locked')).to.equal(true);
  });

  it('lets exactly one of 50 parallel submissions succeed even when the attempt limiter admits them all', async () => {
    const now = T0 + 5 * 30_000;
    const { accountId, secret } = await enrolledAt(now);
    const generous = createAttemptLimiter(bed.conn, { bucket: 'replay_race', policy: { failuresPerLockout: 100 } });
    const racing = createTotpFactor({ conn: bed.conn, secretBox: bed.secretBox, attempts: generous, issuer: TEST_ISSUER });
    const code = await appCode(secret, now);
    const results = await Promise.all(Array.from({ length: 50 }, () => racing.verify(accountId, code)));
    expect(results.filter((result) => result.ok)).to.have.length(1);
    expect(results.filter((result) => !result.ok && result.code === 'code_replayed')).to.have.length(49);
  });

  it('keeps an accepted step consumed for a second server instance on the same database', async () => {
    const now = T0 + 5 * 30_000;
    const { accountId, secret } = await enrolledAt(now);
    const connB = await connectSameDb(bed.conn);
    try {
      const instanceB = createTotpFactor({ conn: connB, secretBox: bed.secretBox, attempts: createAttemptLimiter(connB), issuer: TEST_ISSUER });
      const code = await appCode(secret, now);
      expect(await totp.verify(accountId, code)).to.include({ ok: true });
      expect(await instanceB.verify(accountId, code)).to.deep.equal({ ok: false, code: 'code_replayed' });
    } finally {
      await connB.close();
    }
  });
});
