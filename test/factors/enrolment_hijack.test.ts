/**
 * Threat: someone holding only the password (or a stolen password-only session) replaces the victim's
 * authenticator with their own, gets a half-finished enrolment activated, reads the QR code the victim is scanning,
 * or mints recovery codes (level 3) to pass a step-up. The pages require a fresh second factor before passing
 * `replace: true` and bind each TOTP enrolment to its session; these tests pin the factor layer's side of that
 * bargain.
 */
import { expect } from 'chai';
import { RECOVERY_FACTOR_ID, type RecoveryFactor } from '../../src/factors/recovery/factor.ts';
import { DEFAULT_ATTEMPT_POLICY } from '../../src/factors/shared/attempts.ts';
import { createTotpFactor, type TotpEnrolView, type TotpFactor } from '../../src/factors/totp/factor.ts';
import {
  T0, TEST_ISSUER, appCode, enrolTotp, newAccount, secretOfUri, setUpFactors, wrongCode, type FactorBed,
} from './support.ts';
import { useFrozenClock } from '../helpers/clock.ts';

describe('enrolment hijack', () => {
  let bed: FactorBed;
  let totp: TotpFactor;
  const clock = useFrozenClock({ at: T0, each: true });

  before(async () => {
    bed = await setUpFactors('enrolment_hijack');
    totp = createTotpFactor({ conn: bed.conn, secretBox: bed.secretBox, attempts: bed.attempts, issuer: TEST_ISSUER });
  });
  after(async () => bed.conn.close());

  async function pendingSecret(result: Awaited<ReturnType<TotpFactor['enrol']['begin']>>): Promise<string> {
    if (!result.ok) throw new Error(`begin failed: ${result.code}`);
    return secretOfUri((result.view as TotpEnrolView).otpauthUri);
  }

  it('refuses begin on an active enrolment without replace, and the active secret keeps working', async () => {
    const account = newAccount();
    const secret = await enrolTotp(totp, account);
    expect(await totp.enrol.begin(account)).to.deep.equal({ ok: false, code: 'already_enrolled' });
    expect(await totp.enrol.begin(account, { renew: true })).to.deep.equal({ ok: false, code: 'already_enrolled' });
    const raw = await bed.conn.collection('totp_enrolments').findOne({ _id: account.id as never });
    expect(raw?.pending).to.equal(null);
    clock.tick(30_000);
    expect(await totp.verify(account.id, await appCode(secret))).to.include({ ok: true });
  });

  it('counts wrong confirmation codes against the attempt budget: after 5 even the right code is refused until the lockout ends', async () => {
    const account = newAccount();
    const secret = await pendingSecret(await totp.enrol.begin(account));
    for (let i = 1; i < DEFAULT_ATTEMPT_POLICY.failuresPerLockout; i += 1) {
      expect(await totp.enrol.confirm(account.id, await wrongCode(secret))).to.deep.equal({ ok: false, code: 'invalid_code' });
    }
    expect(await totp.enrol.confirm(account.id, await wrongCode(secret))).to.deep.equal({
      ok: false, code: 'invalid_code', lock: { until: new Date(Date.now() + 60_000), permanent: false, failures: 5 },
    });
    expect(await totp.enrol.confirm(account.id, await appCode(secret))).to.include({ ok: false, code: 'locked' });
    expect(await totp.isEnrolled(account.id)).to.equal(false);
    clock.tick(60_000);
    expect(await totp.enrol.confirm(account.id, await appCode(secret))).to.deep.equal({ ok: true, replaced: false });
  });

  it('never activates on a wrong confirm, however many times it is tried while waiting out the lockouts', async () => {
    const account = newAccount();
    const secret = await pendingSecret(await totp.enrol.begin(account));
    let checked = 0;
    while (checked < 20) {
      const result = await totp.enrol.confirm(account.id, await wrongCode(secret));
      if (result.ok) throw new Error('a wrong confirm activated');
      if (result.code === 'invalid_code') checked += 1;
      else if (result.code === 'locked' && result.until) clock.setSystemTime(result.until.getTime());
      else throw new Error(`unexpected ${result.code}`);
    }
    expect(await totp.isEnrolled(account.id)).to.equal(false);
    expect(await totp.verify(account.id, await appCode(secret))).to.deep.equal({ ok: false, code: 'not_enrolled' });
    expect(await bed.attempts.status(account.id)).to.include({ failures: 20 });
  });

  it('counts confirmation failures in the same bucket as sign-in codes (one budget per account)', async () => {
    const account = newAccount();
    const oldSecret = await enrolTotp(totp, account);
    clock.tick(30_000);
    for (let i = 0; i < 4; i += 1) expect(await totp.verify(account.id, await wrongCode(oldSecret))).to.include({ code: 'invalid_code' });
    const newSecret = await pendingSecret(await totp.enrol.begin(account, { replace: true }));
    expect(await totp.enrol.confirm(account.id, await wrongCode(newSecret))).to.deep.include({ code: 'invalid_code', lock: { until: new Date(Date.now() + 60_000), permanent: false, failures: 5 } });
    expect(await totp.verify(account.id, await appCode(oldSecret))).to.include({ code: 'locked' });
  });

  it('does not wipe earlier failures of the second factor with a correct confirmation of a new authenticator', async () => {
    const account = newAccount();
    const oldSecret = await enrolTotp(totp, account);
    clock.tick(30_000);
    for (let i = 0; i < 3; i += 1) await totp.verify(account.id, await wrongCode(oldSecret));
    const newSecret = await pendingSecret(await totp.enrol.begin(account, { replace: true }));
    expect(await totp.enrol.confirm(account.id, await appCode(newSecret))).to.deep.equal({ ok: true, replaced: true });
    expect(await bed.attempts.status(account.id)).to.deep.equal({ locked: false, failures: 3, attemptsBeforeLockout: 2 });
  });

  it('keeps the old authenticator working while a replacement is pending, and after a wrong confirm', async () => {
    const account = newAccount();
    const oldSecret = await enrolTotp(totp, account);
    const newSecret = await pendingSecret(await totp.enrol.begin(account, { replace: true }));
    expect(newSecret).to.not.equal(oldSecret);
    clock.tick(30_000);
    expect(await totp.enrol.confirm(account.id, await wrongCode(newSecret))).to.deep.equal({ ok: false, code: 'invalid_code' });
    expect(await totp.verify(account.id, await appCode(newSecret))).to.deep.equal({ ok: false, code: 'invalid_code' });
    await bed.attempts.reset(account.id);
    expect(await totp.verify(account.id, await appCode(oldSecret))).to.include({ ok: true });
  });

  it('does not activate a replacement with a code of the old authenticator', async () => {
    const account = newAccount();
    const oldSecret = await enrolTotp(totp, account);
    const newSecret = await pendingSecret(await totp.enrol.begin(account, { replace: true }));
    clock.tick(30_000);
    const oldCode = await appCode(oldSecret);
    if (oldCode === await appCode(newSecret)) return; // one chance in a million: both apps show the same code
    expect(await totp.enrol.confirm(account.id, oldCode)).to.deep.equal({ ok: false, code: 'invalid_code' });
    expect(await totp.verify(account.id, oldCode)).to.include({ ok: true });
  });

  it('replaces the old authenticator only on a correct confirm, which says it replaced one', async () => {
    const account = newAccount();
    const oldSecret = await enrolTotp(totp, account);
    const begun = await totp.enrol.begin(account, { replace: true });
    expect(begun).to.have.nested.property('view.replacing', true);
    const newSecret = await pendingSecret(begun);
    clock.tick(30_000);
    expect(await totp.enrol.confirm(account.id, await appCode(newSecret))).to.deep.equal({ ok: true, replaced: true });
    clock.tick(30_000);
    expect(await totp.verify(account.id, await appCode(oldSecret))).to.deep.equal({ ok: false, code: 'invalid_code' });
    expect(await totp.verify(account.id, await appCode(newSecret))).to.include({ ok: true });
  });

  it('activates a pending enrolment once when two confirms race with one code', async () => {
    const account = newAccount();
    const secret = await pendingSecret(await totp.enrol.begin(account));
    const code = await appCode(secret);
    const results = await Promise.all(Array.from({ length: 10 }, () => totp.enrol.confirm(account.id, code)));
    expect(results.filter((result) => result.ok)).to.have.length(1);
  });

  it('refuses to regenerate recovery codes without replace, and the old codes keep working', async () => {
    const account = newAccount();
    const recovery = bed.registry.get(RECOVERY_FACTOR_ID) as RecoveryFactor;
    const first = await recovery.enrol.begin(account);
    if (!first.ok) throw new Error(first.code);
    expect(await recovery.enrol.begin(account)).to.deep.equal({ ok: false, code: 'already_enrolled' });
    expect(await recovery.verify(account.id, first.view.codes[0])).to.include({ ok: true, remaining: 9 });
  });
  describe('a pending authenticator is bound to the session that started it', () => {
    it('never shows the pending secret to another session: its begin gets a fresh secret instead', async () => {
      const account = newAccount();
      const victims = await pendingSecret(await totp.enrol.begin(account, { binding: 'session_victim' }));
      const attackers = await pendingSecret(await totp.enrol.begin(account, { binding: 'session_attacker' }));
      expect(attackers).to.not.equal(victims);
      const unbound = await pendingSecret(await totp.enrol.begin(account));
      expect([victims, attackers]).to.not.include(unbound);
    });

    it("refuses another session's confirm even with the right code, and the owner's confirm still works", async () => {
      const account = newAccount();
      const secret = await pendingSecret(await totp.enrol.begin(account, { binding: 'session_victim' }));
      const code = await appCode(secret);
      expect(await totp.enrol.confirm(account.id, code, 'session_attacker')).to.deep.equal({ ok: false, code: 'not_enrolled' });
      expect(await totp.enrol.confirm(account.id, code)).to.deep.equal({ ok: false, code: 'not_enrolled' });
      expect(await totp.isEnrolled(account.id)).to.equal(false);
      expect(await totp.enrol.confirm(account.id, code, 'session_victim')).to.deep.equal({ ok: true, replaced: false });
    });

    it("leaves neither party holding the victim's secret once another session started over", async () => {
      const account = newAccount();
      const victims = await pendingSecret(await totp.enrol.begin(account, { binding: 'session_victim' }));
      const attackers = await pendingSecret(await totp.enrol.begin(account, { binding: 'session_attacker' }));
      expect(await totp.enrol.confirm(account.id, await appCode(victims), 'session_victim')).to.deep.equal({ ok: false, code: 'not_enrolled' });
      expect(await totp.enrol.confirm(account.id, await appCode(victims), 'session_attacker')).to.include({ ok: false });
      expect(await totp.isEnrolled(account.id)).to.equal(false);
      // The victim starts again and gets a secret the attacker never saw.
      const again = await pendingSecret(await totp.enrol.begin(account, { binding: 'session_victim' }));
      expect([victims, attackers]).to.not.include(again);
      clock.tick(60_000);
      await bed.attempts.reset(account.id);
      expect(await totp.enrol.confirm(account.id, await appCode(again), 'session_victim')).to.deep.equal({ ok: true, replaced: false });
    });

    it('keeps the same pending secret for the same session, and renews it on request', async () => {
      const account = newAccount();
      const first = await pendingSecret(await totp.enrol.begin(account, { binding: 'session_a' }));
      expect(await pendingSecret(await totp.enrol.begin(account, { binding: 'session_a' }))).to.equal(first);
      const renewed = await pendingSecret(await totp.enrol.begin(account, { binding: 'session_a', renew: true }));
      expect(renewed).to.not.equal(first);
      expect(await pendingSecret(await totp.enrol.begin(account, { binding: 'session_a' }))).to.equal(renewed);
    });

    it('binds a replacement too: another session cannot confirm the new authenticator', async () => {
      const account = newAccount();
      await enrolTotp(totp, account);
      const newSecret = await pendingSecret(await totp.enrol.begin(account, { replace: true, binding: 'session_owner' }));
      clock.tick(30_000);
      expect(await totp.enrol.confirm(account.id, await appCode(newSecret), 'session_other')).to.deep.equal({ ok: false, code: 'not_enrolled' });
      expect(await totp.enrol.confirm(account.id, await appCode(newSecret), 'session_owner')).to.deep.equal({ ok: true, replaced: true });
    });

    it('refuses an empty or non-string binding as a programmer error', async () => {
      const account = newAccount();
      const error = await totp.enrol.begin(account, { binding: '' }).then(() => undefined, (err: unknown) => err);
      expect(error).to.be.instanceOf(TypeError);
    });
  });

  describe('recovery codes need a fresh second factor once the account has one', () => {
    let recovery: RecoveryFactor;
    before(() => {
      recovery = bed.registry.get(RECOVERY_FACTOR_ID) as RecoveryFactor;
    });

    async function rawSet(accountId: string): Promise<unknown> {
      return bed.conn.collection('recovery_code_sets').findOne({ _id: accountId as never });
    }

    it('refuses a plain begin on an account with an authenticator app that never had codes, and creates nothing', async () => {
      const account = newAccount();
      await enrolTotp(totp, account);
      clock.tick(60 * 60_000);
      expect(await recovery.enrol.begin(account)).to.deep.equal({ ok: false, code: 'already_enrolled' });
      expect(await recovery.enrol.begin(account, { initial: true })).to.deep.equal({ ok: false, code: 'already_enrolled' });
      expect(await recovery.isEnrolled(account.id)).to.equal(false);
      expect(await rawSet(account.id)).to.equal(null);
      expect(await bed.conn.collection('recovery_codes').countDocuments({ accountId: account.id })).to.equal(0);
    });

    it('refuses a plain begin right after the app was enrolled unless it asks for the initial set', async () => {
      const account = newAccount();
      await enrolTotp(totp, account);
      expect(await recovery.enrol.begin(account)).to.deep.equal({ ok: false, code: 'already_enrolled' });
    });

    it('gives the initial set right after the first factor was confirmed, only once', async () => {
      const account = newAccount();
      await enrolTotp(totp, account);
      clock.tick(5 * 60_000);
      const first = await recovery.enrol.begin(account, { initial: true });
      expect(first).to.include({ ok: true, status: 'active' });
      expect(await recovery.enrol.begin(account, { initial: true })).to.deep.equal({ ok: false, code: 'already_enrolled' });
    });

    it('replaces codes made before the first factor existed when the initial set follows its enrolment', async () => {
      const account = newAccount();
      const early = await recovery.enrol.begin(account); // e.g. by someone holding only the password
      if (!early.ok) throw new Error(early.code);
      clock.tick(1_000);
      await enrolTotp(totp, account);
      expect(await recovery.enrol.begin(account)).to.deep.equal({ ok: false, code: 'already_enrolled' });
      const initial = await recovery.enrol.begin(account, { initial: true });
      if (!initial.ok) throw new Error(initial.code);
      expect(await recovery.verify(account.id, early.view.codes[0])).to.deep.equal({ ok: false, code: 'invalid_code' });
      expect(await recovery.enrol.begin(account, { initial: true })).to.deep.equal({ ok: false, code: 'already_enrolled' });
      expect(await recovery.verify(account.id, initial.view.codes[0])).to.include({ ok: true, remaining: 9 });
    });

    it('refuses new codes without replace once every code was used, even on an account without another factor', async () => {
      const account = newAccount();
      const first = await recovery.enrol.begin(account);
      if (!first.ok) throw new Error(first.code);
      for (const code of first.view.codes) expect(await recovery.verify(account.id, code)).to.include({ ok: true });
      expect(await recovery.remaining(account.id)).to.equal(0);
      expect(await recovery.enrol.begin(account)).to.deep.equal({ ok: false, code: 'already_enrolled' });
      expect(await recovery.enrol.begin(account, { initial: true })).to.deep.equal({ ok: false, code: 'already_enrolled' });
      expect(await recovery.enrol.begin(account, { replace: true })).to.include({ ok: true });
    });

    it('regenerates with replace on an account with an authenticator app, invalidating the old codes', async () => {
      const account = newAccount();
      await enrolTotp(totp, account);
      const first = await recovery.enrol.begin(account, { initial: true });
      if (!first.ok) throw new Error(first.code);
      const second = await recovery.enrol.begin(account, { replace: true });
      if (!second.ok) throw new Error(second.code);
      expect(await recovery.verify(account.id, first.view.codes[0])).to.deep.equal({ ok: false, code: 'invalid_code' });
      expect(await recovery.verify(account.id, second.view.codes[0])).to.include({ ok: true, remaining: 9 });
    });
  });
});
