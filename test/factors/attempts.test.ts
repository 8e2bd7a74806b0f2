import { expect } from 'chai';
import type mongoose from 'mongoose';
import { createAttemptLimiter, resetAttempts, type AttemptLimiter } from '../../src/factors/shared/attempts.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { connectFreshDb } from '../helpers/db.ts';
import { T0, newAccount } from './support.ts';

describe('attempt limiter', () => {
  let conn: mongoose.Connection;
  let limiter: AttemptLimiter;
  const clock = useFrozenClock({ at: T0, each: true });

  before(async () => {
    conn = await connectFreshDb('attempts');
    limiter = createAttemptLimiter(conn);
  });
  after(async () => conn.close());

  async function failTimes(accountId: string, n: number, on: AttemptLimiter = limiter): Promise<void> {
    for (let i = 0; i < n; i += 1) {
      const reservation = await on.reserve(accountId);
      if (!reservation.ok) throw new Error(`locked after ${i}`);
      await on.fail(reservation.ticket);
    }
  }

  it('reports a fresh account as unlocked with the full budget', async () => {
    expect(await limiter.status(newAccount().id)).to.deep.equal({ locked: false, failures: 0, attemptsBeforeLockout: 5 });
  });

  it('keeps buckets apart: failures in one do not lock another', async () => {
    const { id } = newAccount();
    await failTimes(id, 5);
    expect(await limiter.status(id)).to.include({ locked: true });
    expect(await limiter.withBucket('other_bucket').status(id)).to.include({ locked: false, failures: 0 });
  });

  it('counts an attempt whose check threw as a failure, and rethrows', async () => {
    const { id } = newAccount();
    const error = await limiter.guard(id, async () => {
      throw new Error('store down');
    }).then(() => undefined, (err: unknown) => err);
    expect(error).to.be.instanceOf(Error).with.property('message', 'store down');
    expect(await limiter.status(id)).to.include({ failures: 1 });
  });

  it('closes a spent window that a crashed reservation left open, from the time of its last attempt', async () => {
    const { id } = newAccount();
    await failTimes(id, 4);
    // A reservation that takes the last unit and dies before closing the window: budget 0, no lock.
    await conn.collection('factor_attempts').updateOne({ accountId: id }, { $set: { budgetLeft: 0 }, $inc: { failures: 1 } });
    const refused = await limiter.reserve(id);
    expect(refused).to.deep.equal({ ok: false, code: 'locked', until: new Date(T0 + 60_000), permanent: false });
    clock.tick(60_000);
    expect((await limiter.reserve(id)).ok).to.equal(true);
  });

  it('resets one bucket, or every bucket of an account for support', async () => {
    const { id } = newAccount();
    const other = limiter.withBucket('other_bucket');
    await failTimes(id, 5);
    await failTimes(id, 5, other);
    expect(await limiter.reset(id)).to.equal(true);
    expect(await limiter.status(id)).to.include({ locked: false, failures: 0 });
    expect(await other.status(id)).to.include({ locked: true });
    expect(await resetAttempts(conn, id)).to.equal(true);
    expect(await other.status(id)).to.include({ locked: false });
    expect(await resetAttempts(conn, id)).to.equal(false);
  });

  it('refuses a policy above the NIST cap of 100 consecutive failures, or with bad numbers', () => {
    expect(() => createAttemptLimiter(conn, { policy: { maxConsecutiveFailures: 101 } })).to.throw(/at most 100/);
    expect(() => createAttemptLimiter(conn, { policy: { failuresPerLockout: 0, baseLockoutMs: -1 } })).to.throw(/failuresPerLockout.*baseLockoutMs/);
    expect(() => createAttemptLimiter(conn, { bucket: 'Bad Bucket' })).to.throw(/lower_snake_case/);
  });
  it('records nothing on fail: the failure was already counted when the attempt was reserved', async () => {
    const { id } = newAccount();
    const reservation = await limiter.reserve(id);
    if (!reservation.ok) throw new Error('locked');
    expect(await limiter.status(id)).to.include({ failures: 1, attemptsBeforeLockout: 4 });
    expect(await limiter.fail(reservation.ticket)).to.equal(undefined);
    expect(await limiter.status(id)).to.include({ failures: 1, attemptsBeforeLockout: 4 });
  });

  it('gives a released attempt back without clearing the failures before it', async () => {
    const { id } = newAccount();
    await failTimes(id, 2);
    const reservation = await limiter.reserve(id);
    if (!reservation.ok) throw new Error('locked');
    await limiter.release(reservation.ticket);
    expect(await limiter.status(id)).to.deep.equal({ locked: false, failures: 2, attemptsBeforeLockout: 3 });
  });

  it('keeps a released attempt counted when its reservation started a lockout', async () => {
    const { id } = newAccount();
    await failTimes(id, 4);
    const reservation = await limiter.reserve(id);
    if (!reservation.ok) throw new Error('locked');
    await limiter.release(reservation.ticket);
    expect(await limiter.status(id)).to.include({ locked: true, failures: 5 });
  });

  it('reports every lock it removed when support resets an account with several buckets', async () => {
    const { id } = newAccount();
    await failTimes(id, 1);
    await failTimes(id, 5, limiter.withBucket('bucket_b'));
    await failTimes(id, 2, limiter.withBucket('bucket_c'));
    expect(await resetAttempts(conn, id)).to.equal(true);
    expect(await conn.collection('factor_attempts').countDocuments({ accountId: id })).to.equal(0);
  });

  it('refuses an empty or non-string account id as a programmer error, in every entry point', async () => {
    for (const call of [() => limiter.reserve(''), () => limiter.status(''), () => limiter.reset(''), () => resetAttempts(conn, 42 as never)]) {
      const error = await call().then(() => undefined, (err: unknown) => err);
      expect(error).to.be.instanceOf(TypeError).with.property('message', 'accountId must be a non-empty string');
    }
  });

  it('defaults the shared second-factor bucket to 90 consecutive failures and other buckets to 100', () => {
    expect(limiter.policy.maxConsecutiveFailures).to.equal(90);
    expect(createAttemptLimiter(conn, { bucket: 'password' }).policy.maxConsecutiveFailures).to.equal(100);
  });
});
