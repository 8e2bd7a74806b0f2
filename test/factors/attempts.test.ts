import { expect } from 'chai';
import type mongoose from 'mongoose';
import { ATTEMPT_ANSWER_MS, ATTEMPT_LEASE_MS, createAttemptLimiter, resetAttempts, type AttemptLimiter } from '../../src/factors/shared/attempts.ts';
import { recordCommands } from '../helpers/mongo_commands.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { connectFreshDb } from '../helpers/db.ts';
import { T0, newAccount } from './support.ts';

describe('attempt limiter', () => {
  let conn: mongoose.Connection;
  let limiter: AttemptLimiter;
  /** A connection whose commands are counted. */
  let monitored: mongoose.Connection;
  let monitoredLimiter: AttemptLimiter;
  const clock = useFrozenClock({ at: T0, each: true });

  before(async () => {
    conn = await connectFreshDb('attempts');
    limiter = createAttemptLimiter(conn);
    monitored = await connectFreshDb('attempts_counted', { monitorCommands: true });
    monitoredLimiter = createAttemptLimiter(monitored);
  });
  after(async () => {
    await monitored.close();
    await conn.close();
  });

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

  it('closes a spent window that a crash left open after counting its last failure, from the time of that failure', async () => {
    const { id } = newAccount();
    await failTimes(id, 4);
    // The fifth failure is counted (as `fail` counts it) and the process dies before closing the window: budget 0, no lock.
    const reservation = await limiter.reserve(id);
    if (!reservation.ok) throw new Error('locked');
    await conn.collection('factor_attempts').updateOne({ accountId: id }, { $inc: { failures: 1, budgetLeft: -1, inFlight: -1 } });
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
  it('counts a failure when it is answered, not when the attempt is reserved', async () => {
    const { id } = newAccount();
    const reservation = await limiter.reserve(id);
    if (!reservation.ok) throw new Error('locked');
    expect(await limiter.status(id)).to.include({ failures: 0, attemptsBeforeLockout: 5 });
    expect(await limiter.fail(reservation.ticket)).to.equal(undefined);
    expect(await limiter.status(id)).to.include({ failures: 1, attemptsBeforeLockout: 4 });
  });

  it('gives a released attempt back: it counts nothing and clears nothing', async () => {
    const { id } = newAccount();
    await failTimes(id, 4);
    const reservation = await limiter.reserve(id);
    if (!reservation.ok) throw new Error('locked');
    await limiter.release(reservation.ticket);
    expect(await limiter.status(id)).to.deep.equal({ locked: false, failures: 4, attemptsBeforeLockout: 1 });
    await failTimes(id, 1);
    expect(await limiter.status(id)).to.include({ locked: true, failures: 5 });
  });

  it('holds one unit per attempt in flight: with all of them taken the next is refused until their leases end', async () => {
    const { id } = newAccount();
    for (let i = 0; i < 5; i += 1) expect((await limiter.reserve(id)).ok).to.equal(true);
    expect(await limiter.reserve(id)).to.deep.equal({ ok: false, code: 'locked', until: new Date(T0 + ATTEMPT_LEASE_MS), permanent: false });
    // Checks that died with their process answered nothing: their leases run out and nothing was counted.
    clock.tick(ATTEMPT_LEASE_MS);
    expect((await limiter.reserve(id)).ok).to.equal(true);
    expect(await limiter.status(id)).to.include({ locked: false, failures: 0, attemptsBeforeLockout: 5 });
  });

  it('writes nothing on a success with nothing to reset; its unit comes back when its lease runs out', async () => {
    const { id } = newAccount();
    const counted = recordCommands(monitored);
    counted.start('success');
    const result = await monitoredLimiter.guard(id, async () => ({ ok: true }));
    const sent = counted.stop().map((command) => `${command.commandName} ${command.collection}`);
    counted.detach();
    expect(result).to.deep.equal({ ok: true });
    expect(sent).to.deep.equal(['findAndModify factor_attempts']);
    // Meanwhile the lease holds its unit: four failures take the rest of the window's budget.
    await failTimes(id, 4, monitoredLimiter);
    expect((await monitoredLimiter.reserve(id)).ok).to.equal(false);
    clock.tick(ATTEMPT_LEASE_MS);
    expect((await monitoredLimiter.reserve(id)).ok).to.equal(true);
  });

  it('settles a success with a write when there is something to reset: earlier failures, or another attempt in flight', async () => {
    const { id } = newAccount();
    await failTimes(id, 2);
    expect(await limiter.guard(id, async () => ({ ok: true }))).to.deep.equal({ ok: true });
    expect(await limiter.status(id)).to.deep.equal({ locked: false, failures: 0, attemptsBeforeLockout: 5 });
    // Another success while the first one's lease runs gives its own unit back.
    expect(await limiter.guard(id, async () => ({ ok: true }))).to.deep.equal({ ok: true });
    const doc = await conn.collection('factor_attempts').findOne({ accountId: id });
    expect(doc).to.include({ failures: 0, budgetLeft: 5, inFlight: 1, free: 4 });
  });

  it('answers no check that finishes after its answer time: counted as a failure whatever its result, answered locked', async () => {
    const { id } = newAccount();
    for (const ok of [true, false]) {
      const result = await limiter.guard(id, async () => {
        clock.tick(ATTEMPT_ANSWER_MS + 1);
        return { ok };
      });
      expect(result).to.include({ ok: false, code: 'locked' });
    }
    expect(await limiter.status(id)).to.include({ failures: 2, attemptsBeforeLockout: 3 });
  });

  it('counts a failure whose lease ran out against the budget, without freeing a unit of the leases running now', async () => {
    const { id } = newAccount();
    const late = await limiter.reserve(id);
    if (!late.ok) throw new Error('locked');
    clock.tick(ATTEMPT_LEASE_MS);
    expect((await limiter.reserve(id)).ok).to.equal(true);
    await limiter.fail(late.ticket);
    expect(await conn.collection('factor_attempts').findOne({ accountId: id })).to.include({ failures: 1, budgetLeft: 4, inFlight: 1, free: 3 });
    for (let i = 0; i < 3; i += 1) expect((await limiter.reserve(id)).ok).to.equal(true);
    expect((await limiter.reserve(id)).ok).to.equal(false);
  });

  it('never shortens the leases another instance took: one whose clock runs behind keeps the later end', async () => {
    const { id } = newAccount();
    expect((await limiter.reserve(id)).ok).to.equal(true);
    clock.setSystemTime(T0 - 4_000);
    expect((await limiter.reserve(id)).ok).to.equal(true);
    const doc = await conn.collection('factor_attempts').findOne({ accountId: id });
    expect(doc?.leasesUntil).to.deep.equal(new Date(T0 + ATTEMPT_LEASE_MS));
    expect(doc).to.include({ inFlight: 2, free: 3 });
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
