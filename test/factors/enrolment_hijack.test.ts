/**
 * Threat: someone holding only the password (or a stolen password-only session) replaces the victim's
 * authenticator with their own, or gets a half-finished enrolment activated. The pages require a fresh second
 * factor before passing `replace: true`; these tests pin the storage layer's side of that bargain.
 */
import { expect } from 'chai';
import { RECOVERY_FACTOR_ID, type RecoveryFactor } from '../../src/factors/recovery/factor.ts';
import { createTotpFactor, type TotpEnrolView, type TotpFactor } from '../../src/factors/totp/factor.ts';
import {
  T0, TEST_ISSUER, appCode, enrolTotp, freezeClock, newAccount, secretOfUri, setUpFactors, wrongCode,
  type FactorBed, type FrozenClock,
} from './support.ts';

describe('enrolment hijack', () => {
  let bed: FactorBed;
  let totp: TotpFactor;
  let clock: FrozenClock;

  before(async () => {
    bed = await setUpFactors('enrolment_hijack');
    totp = createTotpFactor({ conn: bed.conn, secretBox: bed.secretBox, attempts: bed.attempts, issuer: TEST_ISSUER });
  });
  after(async () => bed.conn.close());
  beforeEach(() => {
    clock = freezeClock(T0);
  });
  afterEach(() => clock.uninstall());

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

  it('never activates on a wrong confirm, however many times it is tried', async () => {
    const account = newAccount();
    const secret = await pendingSecret(await totp.enrol.begin(account));
    for (let i = 0; i < 20; i += 1) {
      expect(await totp.enrol.confirm(account.id, await wrongCode(secret))).to.deep.equal({ ok: false, code: 'invalid_code' });
      clock.tick(7_000);
    }
    expect(await totp.isEnrolled(account.id)).to.equal(false);
    expect(await totp.verify(account.id, await appCode(secret))).to.deep.equal({ ok: false, code: 'not_enrolled' });
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
});
