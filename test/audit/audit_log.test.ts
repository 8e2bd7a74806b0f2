import { expect } from 'chai';
import type mongoose from 'mongoose';
import {
  AUDIT_TTL_INDEX, DEFAULT_AUDIT_RETENTION_DAYS, ensureAuditIndexes, listEvents, listEventsByType, recordEvent,
  sanitizeDetails, type AuditEventInput,
} from '../../src/audit/audit_log.ts';
import { connectFreshDb, onlyOnEngine } from '../helpers/db.ts';

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);
const minutes = (n: number) => new Date(T0 + n * 60_000);

function event(accountId: string, at: Date, extra: Partial<AuditEventInput> = {}): AuditEventInput {
  return { accountId, actor: { type: 'user', id: accountId }, event: 'login_succeeded', at, ...extra };
}

describe('audit log', () => {
  let conn: mongoose.Connection;

  before(async () => {
    conn = await connectFreshDb('audit');
    await ensureAuditIndexes(conn, { retentionDays: DEFAULT_AUDIT_RETENTION_DAYS }); // what start-up does
  });
  after(async () => conn.close());

  it('lists an account\'s events newest first, limited, without other accounts\' events', async () => {
    // written out of order on purpose: the order comes from `at`, not from insertion
    for (const n of [3, 1, 5, 2, 4]) await recordEvent(conn, event('acc-list', minutes(n), { details: { n } }));
    await recordEvent(conn, event('acc-other', minutes(6)));
    const three = await listEvents(conn, 'acc-list', { limit: 3 });
    expect(three.map((e) => e.details?.n)).to.deep.equal([5, 4, 3]);
    const all = await listEvents(conn, 'acc-list');
    expect(all.map((e) => e.at.getTime())).to.deep.equal([5, 4, 3, 2, 1].map((n) => minutes(n).getTime()));
    expect(all.every((e) => e.accountId === 'acc-list')).to.equal(true);
  });

  it('pages with `before`: strictly older events only', async () => {
    const page = await listEvents(conn, 'acc-list', { limit: 2, before: minutes(4) });
    expect(page.map((e) => e.details?.n)).to.deep.equal([3, 2]);
    expect(await listEvents(conn, 'acc-list', { before: minutes(1) })).to.deep.equal([]);
  });

  it('clamps the limit to 1-200', async () => {
    expect(await listEvents(conn, 'acc-list', { limit: 0 })).to.have.length(1);
    expect(await listEvents(conn, 'acc-list', { limit: -5 })).to.have.length(1);
  });

  it('returns what was stored: who, what, when, from where, for which shop', async () => {
    const stored = await recordEvent(conn, {
      accountId: 'acc-full', actor: { type: 'admin', id: 'acc-admin' }, event: 'factors_reset', at: minutes(10),
      ip: '203.0.113.9', userAgent: 'Mozilla/5.0 Test', clientId: 'demo-shop', details: { factors: ['totp', 'email'] },
    });
    expect(stored.id).to.match(/^[0-9a-f]{24}$/);
    const [listed] = await listEvents(conn, 'acc-full');
    expect(listed).to.deep.equal({
      id: stored.id, accountId: 'acc-full', actor: { type: 'admin', id: 'acc-admin' }, event: 'factors_reset', at: minutes(10),
      ip: '203.0.113.9', userAgent: 'Mozilla/5.0 Test', clientId: 'demo-shop', details: { factors: ['totp', 'email'] },
    });
  });

  it('stamps the current time when no `at` is given, and omits empty optional fields', async () => {
    const before = Date.now();
    const stored = await recordEvent(conn, { accountId: 'acc-now', actor: { type: 'system' }, event: 'account_unlocked', ip: '  ', details: {} });
    expect(stored.at.getTime()).to.be.within(before, Date.now());
    expect(stored).to.not.have.any.keys('ip', 'userAgent', 'clientId', 'details');
    expect(stored.actor).to.deep.equal({ type: 'system' });
  });

  it('strips secrets from details at any depth before they reach the database', async () => {
    await recordEvent(conn, event('acc-secret', minutes(1), {
      event: 'mfa_failed',
      details: {
        code: '481516', emailCode: '234234', recovery_code: 'abcd-efgh-jkmn', totpSecret: 'JBSWY3DPEHPK3PXP', newPassword: 'hunter2!',
        password: 'correct horse', idToken: 'eyJhbGciOi.x.y', apiKey: 'sk_live_42', codeHash: 'f00dface', Authorization: 'Bearer zzz',
        pin: '9876',
        factorId: 'totp', reason: 'invalid_code', remaining: 3,
        nested: { otp: '777111', ok: true, deeper: { refresh_token: 'rt-999', kept: 'yes' } },
        list: [{ accessToken: 'at-555', n: 1 }, 'plain'],
      },
    }));
    const raw = await conn.collection('audit_events').find({ accountId: 'acc-secret' }).toArray();
    expect(raw).to.have.length(1);
    const text = JSON.stringify(raw);
    for (const secret of ['481516', '234234', 'abcd-efgh', 'JBSWY3DP', 'hunter2', 'correct horse', 'eyJhbGciOi', 'sk_live', 'f00dface', 'Bearer', '9876', '777111', 'rt-999', 'at-555']) {
      expect(text, secret).to.not.include(secret);
    }
    expect(raw[0]?.details).to.deep.equal({
      factorId: 'totp', reason: 'invalid_code', remaining: 3, nested: { ok: true, deeper: { kept: 'yes' } }, list: [{ n: 1 }, 'plain'],
    });
  });

  it('keeps details small: depth, keys, array items and string length are capped; operators and non-data dropped', () => {
    const wide = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i]));
    expect(Object.keys(sanitizeDetails(wide) ?? {})).to.have.length(20);
    const clean = sanitizeDetails({
      long: 'x'.repeat(1000), many: Array.from({ length: 50 }, (_, i) => i), deep: { a: { b: { c: { d: 1 } } } },
      $where: 'sleep(1000)', 'a.b': 1, fn: () => 1, buf: Buffer.from('secret'), big: 10n, nan: Number.NaN, when: minutes(1),
    });
    expect(clean?.long).to.have.length(201);
    expect(clean?.many).to.have.length(20);
    expect(clean?.deep).to.deep.equal({ a: { b: {} } });
    expect(clean).to.have.all.keys('long', 'many', 'deep', 'when');
    expect(sanitizeDetails({ code: '123456' })).to.equal(undefined);
    expect(sanitizeDetails(undefined)).to.equal(undefined);
  });

  it('refuses an unknown event name, actor type or a missing account id', async () => {
    const bad = [
      { ...event('acc-bad', minutes(1)), event: 'logged_in' },
      { ...event('acc-bad', minutes(1)), actor: { type: 'robot' } },
      { ...event('acc-bad', minutes(1)), accountId: '' },
    ] as unknown as AuditEventInput[];
    for (const input of bad) {
      let error: unknown;
      try {
        await recordEvent(conn, input);
      } catch (err) {
        error = err;
      }
      expect(error, JSON.stringify(input)).to.be.instanceOf(Error);
    }
    expect(await listEvents(conn, 'acc-bad')).to.deep.equal([]);
  });

  it('lists events of one type across accounts since a time, newest first', async () => {
    await recordEvent(conn, event('acc-t1', minutes(100), { event: 'account_locked', actor: { type: 'system' } }));
    await recordEvent(conn, event('acc-t2', minutes(120), { event: 'account_locked', actor: { type: 'system' } }));
    await recordEvent(conn, event('acc-t3', minutes(50), { event: 'account_locked', actor: { type: 'system' } }));
    await recordEvent(conn, event('acc-t1', minutes(110), { event: 'mfa_failed' }));
    const locks = await listEventsByType(conn, 'account_locked', { since: minutes(60) });
    expect(locks.map((e) => e.accountId)).to.deep.equal(['acc-t2', 'acc-t1']);
    expect(await listEventsByType(conn, 'account_locked', { since: minutes(60), limit: 1 })).to.have.length(1);
    let error: unknown;
    try {
      await listEventsByType(conn, { $ne: null } as unknown as 'account_locked', { since: minutes(0) });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(Error);
  });

  it('has the per-account index { accountId: 1, at: -1 } and the retention TTL index', async () => {
    const indexes = await conn.collection('audit_events').listIndexes().toArray();
    const keys = indexes.map((index) => JSON.stringify(index.key));
    expect(keys).to.include(JSON.stringify({ accountId: 1, at: -1 }));
    expect(keys).to.include(JSON.stringify({ event: 1, at: -1 }));
    const ttl = indexes.find((index) => index.name === AUDIT_TTL_INDEX);
    expect(ttl?.key).to.deep.equal({ at: 1 });
    expect(ttl?.expireAfterSeconds).to.equal(DEFAULT_AUDIT_RETENTION_DAYS * 86_400);
  });
});

describe('audit log retention', () => {
  let conn: mongoose.Connection;

  beforeEach(async () => {
    conn = await connectFreshDb('audit_ttl');
  });
  afterEach(async () => conn.close());

  /** `n` minutes ago: records these tests keep must stay inside every retention they set, whatever today's date. */
  const ago = (n: number): Date => new Date(Date.now() - n * 60_000);

  async function ttlSeconds(): Promise<number | undefined> {
    const indexes = await conn.collection('audit_events').listIndexes().toArray();
    return indexes.find((index) => index.name === AUDIT_TTL_INDEX)?.expireAfterSeconds as number | undefined;
  }

  it('follows the configured retention, replaces a different one, and `null` keeps records forever', async () => {
    await ensureAuditIndexes(conn, { retentionDays: 30 });
    expect(await ttlSeconds()).to.equal(30 * 86_400);
    await recordEvent(conn, event('acc-r', ago(1))); // no options: keeps the configured retention
    expect(await ttlSeconds()).to.equal(30 * 86_400);
    await ensureAuditIndexes(conn, { retentionDays: 90 });
    expect(await ttlSeconds()).to.equal(90 * 86_400);
    await ensureAuditIndexes(conn, { retentionDays: null });
    expect(await ttlSeconds()).to.equal(undefined);
    expect(await listEvents(conn, 'acc-r')).to.have.length(1);
  });

  it('a process that never set the retention (no options) leaves the TTL index as the operators set it', async () => {
    await ensureAuditIndexes(conn, { retentionDays: null });
    // Another Connection object on the same database: what a second process (a tool, a worker) looks like.
    const other = conn.useDb(conn.name, { useCache: false });
    await recordEvent(other, event('acc-k', ago(2)));
    expect(await ttlSeconds(), 'forever stays forever').to.equal(undefined);
    await ensureAuditIndexes(conn, { retentionDays: 7 });
    await recordEvent(other, event('acc-k', ago(1)));
    expect(await ttlSeconds()).to.equal(7 * 86_400);
    expect(await listEvents(conn, 'acc-k')).to.have.length(2);
  });

  it('refuses a retention that is not 1-3650 whole days', async () => {
    for (const retentionDays of [0, -1, 1.5, 4000, Number.NaN]) {
      let error: unknown;
      try {
        await ensureAuditIndexes(conn, { retentionDays });
      } catch (err) {
        error = err;
      }
      expect(error, String(retentionDays)).to.have.property('code', 'invalid_audit_retention');
    }
  });

  it('records older than the retention are deleted by the TTL monitor', async function () {
    onlyOnEngine(this); // a real mongod sweeps once a minute
    await ensureAuditIndexes(conn, { retentionDays: 1 });
    await recordEvent(conn, event('acc-old', new Date(Date.now() - 2 * 86_400_000)));
    await recordEvent(conn, event('acc-old', new Date()));
    const deadline = Date.now() + 5_000;
    let left = await listEvents(conn, 'acc-old');
    while (left.length > 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      left = await listEvents(conn, 'acc-old');
    }
    expect(left).to.have.length(1);
    expect(left[0]?.at.getTime()).to.be.above(Date.now() - 60_000);
  });
});
