import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import {
  RECOVERY_CODE_SECRET_BITS, createRecoveryFactor, hashRecoveryCode, normaliseRecoveryCode, type RecoveryFactor,
} from '../../src/factors/recovery/index.ts';
import { createAttemptLimiter } from '../../src/factors/shared/attempts.ts';
import { newAccount, setUpFactors, type FactorBed } from './support.ts';

describe('recovery codes', () => {
  let bed: FactorBed;
  let recovery: RecoveryFactor;

  before(async () => {
    bed = await setUpFactors('recovery');
    recovery = createRecoveryFactor({ conn: bed.conn, attempts: bed.attempts, pepper: bed.pepper, otherFactors: () => bed.registry.all });
  });
  after(async () => bed.conn.close());

  it('generates 10 short readable codes, each with its own locator and a 50-bit secret (NIST SP 800-63B §5.1.2.1 asks 20 with throttling)', async () => {
    const codes = await recovery.generate(newAccount().id);
    expect(codes).to.have.length(10);
    const group = '[0-9a-hjkmnp-tv-z]{4}';
    for (const code of codes) expect(code).to.match(new RegExp(`^${group}-${group}-${group}$`));
    expect(new Set(codes.map((code) => code.slice(0, 2))).size, 'one code per locator').to.equal(10);
    expect(RECOVERY_CODE_SECRET_BITS).to.equal(50);
  });

  it('stores hashes only: no code appears in the database in any form', async () => {
    const { id } = newAccount();
    const codes = await recovery.generate(id);
    const raw = await bed.conn.collection('recovery_codes').find({ accountId: id }).toArray();
    expect(raw).to.have.length(10);
    const text = JSON.stringify(raw).toLowerCase();
    for (const code of codes) {
      expect(text).to.not.include(code);
      expect(text).to.not.include(code.replace(/-/g, ''));
    }
    // below 112 bits, each secret is salted and hashed with a password hashing scheme (NIST SP 800-63B §5.1.2.2)
    for (const doc of raw) expect(doc.secretHash).to.match(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(new Set(raw.map((doc) => doc.secretHash)).size, 'a salt each').to.equal(10);
  });

  it('accepts each code once and counts down the remaining ones', async () => {
    const { id } = newAccount();
    const codes = await recovery.generate(id);
    expect(await recovery.verify(id, codes[3])).to.deep.equal({
      ok: true, factorId: recovery.id, amr: ['otp'], level: 3, remaining: 9, unlocked: false,
    });
    expect(await recovery.verify(id, codes[3])).to.deep.equal({ ok: false, code: 'code_replayed' });
    expect(await recovery.verify(id, codes[4])).to.include({ ok: true, remaining: 8 });
    expect(await recovery.remaining(id)).to.equal(8);
  });

  it('lets exactly one of 10 parallel uses of one code succeed', async () => {
    const { id } = newAccount();
    const [code] = await recovery.generate(id);
    // No lockout inside the recovery bucket's 10 consecutive failures, so that only single use decides.
    const generous = createRecoveryFactor({
      conn: bed.conn, pepper: bed.pepper, attempts: createAttemptLimiter(bed.conn, { policy: { failuresPerLockout: 100 } }), otherFactors: () => bed.registry.all,
    });
    const results = await Promise.all(Array.from({ length: 10 }, () => generous.verify(id, code)));
    expect(results.filter((result) => result.ok)).to.have.length(1);
    expect(results.filter((result) => !result.ok && result.code === 'code_replayed')).to.have.length(9);
    expect(await recovery.remaining(id)).to.equal(9);
  });

  it('hands out exactly one set when 10 first-time begins race, and that set works', async () => {
    const account = newAccount();
    const results = await Promise.all(Array.from({ length: 10 }, () => recovery.enrol.begin(account)));
    const winners = results.filter((result) => result.ok);
    expect(winners).to.have.length(1);
    expect(results.filter((result) => !result.ok && result.code === 'already_enrolled')).to.have.length(9);
    const codes = (winners[0] as { view: { codes: readonly string[] } }).view.codes;
    expect(await bed.conn.collection('recovery_codes').countDocuments({ accountId: account.id })).to.equal(10);
    expect(await recovery.verify(account.id, codes[0])).to.include({ ok: true, remaining: 9 });
  });

  it('hands out exactly one set when 10 regenerations with replace race, and only that set works', async () => {
    const account = newAccount();
    const old = await recovery.generate(account.id);
    const results = await Promise.all(Array.from({ length: 10 }, () => recovery.enrol.begin(account, { replace: true })));
    const winners = results.filter((result) => result.ok);
    expect(winners).to.have.length(1);
    const codes = (winners[0] as { view: { codes: readonly string[] } }).view.codes;
    expect(await bed.conn.collection('recovery_codes').countDocuments({ accountId: account.id })).to.equal(10);
    expect(await recovery.verify(account.id, old[0])).to.deep.equal({ ok: false, code: 'invalid_code' });
    expect(await recovery.verify(account.id, codes[9])).to.include({ ok: true, remaining: 9 });
  });

  it('keeps the current codes working when a regeneration fails half-way', async () => {
    const { id } = newAccount();
    const current = await recovery.generate(id);
    // The store fails while the new codes are written (a crash there): the account must not be left without codes.
    const codesModel = bed.conn.models.RecoveryCode as unknown as { insertMany: unknown };
    codesModel.insertMany = async () => {
      throw new Error('store down');
    };
    try {
      const failed = await recovery.enrol.begin({ id, email: `${id}@example.com` }, { replace: true }).then(() => undefined, (err: unknown) => err);
      expect(failed).to.be.instanceOf(Error).with.property('message', 'store down');
    } finally {
      delete codesModel.insertMany;
    }
    expect(await recovery.remaining(id)).to.equal(10);
    expect(await recovery.verify(id, current[0])).to.include({ ok: true, remaining: 9 });
  });

  it('accepts a code typed in capitals, with spaces or without dashes, and with look-alike letters', async () => {
    const { id } = newAccount();
    const codes = await recovery.generate(id);
    const [a, b, c, d] = codes as [string, string, string, string];
    expect(await recovery.verify(id, a.toUpperCase())).to.include({ ok: true });
    expect(await recovery.verify(id, ` ${b.replace(/-/g, ' ')} `)).to.include({ ok: true });
    expect(await recovery.verify(id, c.replace(/-/g, ''))).to.include({ ok: true });
    expect(await recovery.verify(id, d.replace(/0/g, 'O').replace(/1/g, 'l'))).to.include({ ok: true });
    expect(normaliseRecoveryCode('ABCD-EFGH-JKMN')).to.equal('abcdefghjkmn');
    expect(normaliseRecoveryCode('oi1l-0000-0000')).to.equal('0111' + '0'.repeat(8));
    expect(normaliseRecoveryCode('ABCDEF-GHJKMN-PQRSTV-WXYZ01'), 'a code of an earlier set').to.equal('abcdefghjkmnpqrstvwxyz01');
    expect(normaliseRecoveryCode('abcd-efgh-jkm')).to.equal(undefined);
  });

  it('still accepts, once, a code of a set made before the short format (120 bits, keyed hash)', async () => {
    const { id } = newAccount();
    await recovery.generate(id);
    const set = await bed.conn.collection('recovery_code_sets').findOne({ _id: id as never });
    const legacy = 'abcdef-ghjkmn-pqrstv-wxyz01';
    await bed.conn.collection('recovery_codes').insertOne({
      _id: hashRecoveryCode(bed.pepper, id, normaliseRecoveryCode(legacy) as string) as never,
      accountId: id, setId: set?.setId, createdAt: new Date(), usedAt: null,
    });
    expect(await recovery.verify(id, legacy.toUpperCase())).to.include({ ok: true, remaining: 10 });
    expect(await recovery.verify(id, legacy)).to.deep.equal({ ok: false, code: 'code_replayed' });
  });

  it('refuses a right locator with a wrong secret, and a locator no code has', async () => {
    const { id } = newAccount();
    const [code] = await recovery.generate(id);
    const wrongSecret = `${(code as string).slice(0, 2)}${(code as string).slice(2, 4) === 'zz' ? 'yy' : 'zz'}${(code as string).slice(4)}`;
    expect(await recovery.verify(id, wrongSecret)).to.deep.equal({ ok: false, code: 'invalid_code' });
    const taken = new Set((await recovery.generate(id)).map((one) => one.slice(0, 2)));
    const free = ['00', '01', '02', '03', '04', '05', '06', '07', '08', '09', '0a'].find((locator) => !taken.has(locator)) as string;
    expect(await recovery.verify(id, `${free}${(code as string).slice(2)}`)).to.deep.equal({ ok: false, code: 'invalid_code' });
    expect(await recovery.remaining(id)).to.equal(10);
  });

  it('answers wrong and malformed input with invalid_code, never throwing', async () => {
    const { id } = newAccount();
    await recovery.generate(id);
    for (const bad of ['zzzzzz-zzzzzz-zzzzzz-zzzzzz', 'zzzz-zzzz-zzzz', 'abc', 'uuuuuu-uuuuuu-uuuuuu-uuuuuu', '', 'x'.repeat(1_000_000), 42, null, undefined, { $ne: null }]) {
      expect(await recovery.verify(id, bad), String(bad).slice(0, 20)).to.deep.equal({ ok: false, code: 'invalid_code' });
      await bed.attempts.withBucket('recovery_code').reset(id);
    }
  });

  it("does not accept one account's code for another account", async () => {
    const alice = newAccount();
    const bob = newAccount();
    const [aliceCode] = await recovery.generate(alice.id);
    await recovery.generate(bob.id);
    expect(await recovery.verify(bob.id, aliceCode)).to.deep.equal({ ok: false, code: 'invalid_code' });
  });

  it('does not accept codes under another pepper (a database copy without the server secret)', async () => {
    const { id } = newAccount();
    const [code] = await recovery.generate(id);
    const otherServer = createRecoveryFactor({ conn: bed.conn, attempts: bed.attempts, pepper: randomBytes(32), otherFactors: () => bed.registry.all });
    expect(await otherServer.verify(id, code)).to.deep.equal({ ok: false, code: 'invalid_code' });
  });

  it('is no longer enrolled once every code is used, and says not_enrolled when none were generated', async () => {
    const { id } = newAccount();
    expect(await recovery.verify(id, 'abcdef-ghjkmn-pqrstv-wxyz01')).to.deep.equal({ ok: false, code: 'not_enrolled' });
    const codes = await recovery.generate(id);
    expect(await recovery.isEnrolled(id)).to.equal(true);
    for (const code of codes) expect(await recovery.verify(id, code)).to.include({ ok: true });
    expect(await recovery.remaining(id)).to.equal(0);
    expect(await recovery.isEnrolled(id)).to.equal(false);
  });

  it('refuses a shared limiter that would allow more than 100 consecutive failures together with its own 10', () => {
    const lenient = createAttemptLimiter(bed.conn, { policy: { maxConsecutiveFailures: 100 } });
    expect(() => createRecoveryFactor({ conn: bed.conn, attempts: lenient, pepper: bed.pepper, otherFactors: () => [] })).to.throw(/exceeds 100 per account/);
  });

  it('refuses a pepper shorter than 32 bytes', () => {
    expect(() => createRecoveryFactor({ conn: bed.conn, attempts: bed.attempts, pepper: randomBytes(16), otherFactors: () => [] })).to.throw(/32 bytes/);
  });
});
