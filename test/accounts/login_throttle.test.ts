/**
 * Threat: a flood of sign-ins for other emails queues the password checks, so a customer's check waits in line for
 * longer than an attempt may take. The attempt is reserved only once its check has a slot: waiting in line never uses
 * up its lease, and the customer gets a real answer once the line moves (`src/accounts/login_throttle.ts`).
 */
import { expect } from 'chai';
import type mongoose from 'mongoose';
import { MAX_CONCURRENT_PASSWORD_CHECKS, passwordAttemptLimiter, throttleLogin, loginThrottleKey } from '../../src/accounts/login_throttle.ts';
import { ATTEMPT_LEASE_MS } from '../../src/factors/shared/attempts.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { connectFreshDb } from '../helpers/db.ts';
import { T0 } from '../factors/support.ts';

describe('password throttle under a flood of sign-ins', function () {
  let conn: mongoose.Connection;
  const clock = useFrozenClock({ at: T0, each: true });
  const provider = { keys: ['a cookie key of at least some length'] };

  before(async function () {
    conn = await connectFreshDb('login_throttle');
  });
  after(async function () {
    await conn.close();
  });

  it('answers a check that waited in line longer than a lease, and counts it once', async function () {
    const deps = { provider: provider as never, conn };
    // Every slot is taken by a check of another email that only ends when we say so.
    let endFlood!: () => void;
    const flooding = new Promise<void>((resolve) => { endFlood = resolve; });
    const flood = Array.from({ length: MAX_CONCURRENT_PASSWORD_CHECKS }, (_, i) => throttleLogin(deps, `flood${i}@example.com`, async () => {
      await flooding;
      return null;
    }));
    await new Promise((resolve) => setImmediate(resolve));
    let checked = false;
    const waiting = throttleLogin(deps, 'customer@example.com', async () => {
      checked = true;
      return { id: 'customer' };
    });
    await new Promise((resolve) => setImmediate(resolve));
    clock.tick(ATTEMPT_LEASE_MS * 2);
    endFlood();
    expect(await waiting).to.deep.equal({ ok: true, value: { id: 'customer' } });
    expect(checked).to.equal(true);
    // The flood's own checks ran past their answer time: counted, and answered "try again later" whatever they found.
    for (const result of await Promise.all(flood)) expect(result).to.include({ ok: false, code: 'locked' });
    expect(await passwordAttemptLimiter(conn).status(loginThrottleKey(provider, 'customer@example.com'))).to.include({ locked: false, failures: 0 });
  });
});
