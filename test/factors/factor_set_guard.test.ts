import { expect } from 'chai';
import type mongoose from 'mongoose';
import { createFactorSetGuard, factorSetLeaseModel, type FactorSetGuard } from '../../src/factors/shared/factor_set_guard.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { connectFreshDb } from '../helpers/db.ts';
import { T0, connectSameDb, newAccount } from './support.ts';

const LEASE_MS = 30_000;

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => { open = resolve; });
  return { opened, open };
}

/** The per-account factor-set lease: one change of an account's factor set at a time, on every server instance. */
describe('factor-set guard', () => {
  let connA: mongoose.Connection;
  let connB: mongoose.Connection;
  const clock = useFrozenClock({ at: T0, each: true });
  /** Two "server instances" on one database; `impatient` ones give up at once. */
  let guards: { a: FactorSetGuard; b: FactorSetGuard; impatientA: FactorSetGuard; impatientB: FactorSetGuard };

  before(async () => {
    connA = await connectFreshDb('factor_set_guard');
    connB = await connectSameDb(connA);
    guards = {
      a: createFactorSetGuard(connA, { leaseMs: LEASE_MS, waitMs: 10_000, retryMs: 5 }),
      b: createFactorSetGuard(connB, { leaseMs: LEASE_MS, waitMs: 10_000, retryMs: 5 }),
      impatientA: createFactorSetGuard(connA, { leaseMs: LEASE_MS, waitMs: 0 }),
      impatientB: createFactorSetGuard(connB, { leaseMs: LEASE_MS, waitMs: 0 }),
    };
  });
  after(async () => {
    await connB?.close();
    await connA?.dropDatabase().catch(() => undefined);
    await connA?.close();
  });

  it('a concurrent burst on two server instances runs one change of an account at a time, and every change runs', async () => {
    const { id } = newAccount();
    let inside = 0;
    let most = 0;
    const results = await Promise.all(Array.from({ length: 12 }, (_, index) => (index % 2 ? guards.a : guards.b).withLease(id, async () => {
      inside += 1;
      most = Math.max(most, inside);
      await new Promise((resolve) => setTimeout(resolve, 3));
      inside -= 1;
      return index;
    })));
    expect(most).to.equal(1);
    expect(results.map((result) => (result.ok ? result.value : -1))).to.deep.equal(Array.from({ length: 12 }, (_, index) => index));
  });

  it('a change while another server holds the account is refused as in progress, and runs nothing', async () => {
    const { id } = newAccount();
    const holding = gate();
    const release = gate();
    const first = guards.a.withLease(id, async () => {
      holding.open();
      await release.opened;
      return 'first';
    });
    await holding.opened;
    let ran = false;
    const second = await guards.impatientB.withLease(id, async () => { ran = true; });
    expect(second).to.deep.equal({ ok: false, code: 'factor_change_in_progress' });
    expect(ran).to.equal(false);
    release.open();
    expect(await first).to.deep.equal({ ok: true, value: 'first' });
    expect(await guards.impatientB.withLease(id, async () => 'after')).to.deep.equal({ ok: true, value: 'after' });
  });

  it('leases of two accounts are independent', async () => {
    const [one, two] = [newAccount().id, newAccount().id];
    const result = await guards.impatientA.withLease(one, async () => guards.impatientB.withLease(two, async () => 'both'));
    expect(result).to.deep.equal({ ok: true, value: { ok: true, value: 'both' } });
  });

  it('a change that throws releases the lease and rethrows', async () => {
    const { id } = newAccount();
    let thrown: unknown;
    try {
      await guards.impatientA.withLease(id, async () => { throw new Error('refused'); });
    } catch (err) {
      thrown = err;
    }
    expect((thrown as Error | undefined)?.message).to.equal('refused');
    expect(await guards.impatientB.withLease(id, async () => 'next')).to.deep.equal({ ok: true, value: 'next' });
    expect(await factorSetLeaseModel(connA).countDocuments({ _id: id })).to.equal(0);
  });

  it('a lease left by a crashed request blocks the account only until it expires', async () => {
    const { id } = newAccount();
    await factorSetLeaseModel(connA).create({ _id: id, holder: 'crashed', expiresAt: new Date(Date.now() + LEASE_MS) });
    expect(await guards.impatientB.withLease(id, async () => 'early')).to.deep.equal({ ok: false, code: 'factor_change_in_progress' });
    clock.tick(LEASE_MS - 1);
    expect(await guards.impatientB.withLease(id, async () => 'early')).to.deep.equal({ ok: false, code: 'factor_change_in_progress' });
    clock.tick(1);
    expect(await guards.impatientB.withLease(id, async () => 'later')).to.deep.equal({ ok: true, value: 'later' });
  });

  it('a holder whose lease expired cannot end the lease another request took over', async () => {
    const { id } = newAccount();
    const takenOver = gate();
    const secondDone = gate();
    const slow = guards.impatientA.withLease(id, async () => {
      clock.tick(LEASE_MS);
      const second = guards.impatientB.withLease(id, async () => {
        takenOver.open();
        await secondDone.opened;
        return 'second';
      });
      await takenOver.opened;
      return { second };
    });
    const ended = await slow;
    if (!ended.ok) throw new Error('the slow holder never held the account');
    const { second } = ended.value;
    // The slow holder has ended (and released what it held: nothing): the second one still holds the account.
    expect(await guards.impatientA.withLease(id, async () => 'third')).to.deep.equal({ ok: false, code: 'factor_change_in_progress' });
    secondDone.open();
    expect(await second).to.deep.equal({ ok: true, value: 'second' });
    expect(await guards.impatientA.withLease(id, async () => 'third')).to.deep.equal({ ok: true, value: 'third' });
  });

  it('refuses an empty account id and bad options as programmer errors', async () => {
    let thrown: unknown;
    try {
      await guards.a.withLease('', async () => undefined);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.be.instanceOf(TypeError);
    expect(() => createFactorSetGuard(connA, { leaseMs: -1 })).to.throw(TypeError, /leaseMs/);
  });
});
