import { expect } from 'chai';
import type mongoose from 'mongoose';
import type { FactorFailure } from '../../src/factors/contract.ts';
import { createSecretBox, generateKey } from '../../src/factors/shared/secret_box.ts';
import { createTotpFactor, type TotpEnrolView, type TotpFactor } from '../../src/factors/totp/factor.ts';
import { buildOtpauthUri, checkTotpCode, formatManualKey, normaliseTotpInput } from '../../src/factors/totp/otp.ts';
import {
  T0, TEST_ISSUER, appCode, decodeQrDataUrl, enrolTotp, newAccount, secretOfUri, setUpFactors, type FactorBed, wrongCode,
} from './support.ts';
import { freezeClock, type FrozenClock } from '../helpers/clock.ts';

const RFC_SECRET = Buffer.from('12345678901234567890', 'ascii');

function viewOf(result: Awaited<ReturnType<TotpFactor['enrol']['begin']>>): TotpEnrolView {
  if (!result.ok) throw new Error(`begin failed: ${result.code}`);
  return result.view;
}

describe('TOTP primitives (RFC 6238)', () => {
  // RFC 6238 Appendix B, SHA1 rows: the ASCII secret, 8 digits, exact time steps.
  const vectors: [number, string][] = [
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ];
  for (const [time, code] of vectors) {
    it(`accepts the RFC 6238 Appendix B SHA1 code ${code} at T=${time} and reports its time step`, async () => {
      const result = await checkTotpCode(RFC_SECRET, code, { epochSeconds: time, digits: 8, windowSteps: 0 });
      expect(result).to.deep.equal({ valid: true, timeStep: Math.floor(time / 30) });
    });
  }

  it('rejects an RFC 6238 code one digit off', async () => {
    expect(await checkTotpCode(RFC_SECRET, '94287083', { epochSeconds: 59, digits: 8, windowSteps: 0 })).to.deep.equal({ valid: false });
  });

  it('builds the otpauth URI exactly, percent-encoding issuer and email', () => {
    const uri = buildOtpauthUri({ issuer: 'Keys Express & Co', accountName: 'jane+shop@example.com', secretBase32: 'JBSWY3DPEHPK3PXP' });
    expect(uri).to.equal('otpauth://totp/Keys%20Express%20%26%20Co:jane%2Bshop%40example.com'
      + '?secret=JBSWY3DPEHPK3PXP&issuer=Keys%20Express%20%26%20Co&algorithm=SHA1&digits=6&period=30');
  });

  it('groups the manual key in fours', () => {
    expect(formatManualKey('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')).to.equal('ABCD EFGH IJKL MNOP QRST UVWX YZ23 4567');
  });

  it('accepts a code typed with spaces and refuses anything that is not six digits', () => {
    expect(normaliseTotpInput('099 183')).to.equal('099183');
    for (const bad of ['09918', '0991834', '09918a', '', '１２３４５６', 99183, null, undefined, {}, ['099183'], '9'.repeat(100_000)]) {
      expect(normaliseTotpInput(bad), String(bad).slice(0, 20)).to.equal(undefined);
    }
  });
});

describe('TOTP enrolment', () => {
  let bed: FactorBed;
  let conn: mongoose.Connection;
  let totp: TotpFactor;
  let clock: FrozenClock | undefined;

  before(async () => {
    bed = await setUpFactors('totp_enrol');
    conn = bed.conn;
    totp = createTotpFactor({ conn, secretBox: bed.secretBox, attempts: bed.attempts, issuer: TEST_ISSUER });
  });
  after(async () => conn.close());
  afterEach(() => {
    clock?.uninstall();
    clock = undefined;
  });

  it('shows a QR code that decodes to exactly the otpauth URI, and a manual key equal to its secret', async () => {
    const account = newAccount();
    const view = viewOf(await totp.enrol.begin(account));
    expect(view.otpauthUri).to.match(new RegExp(`^otpauth://totp/Keys%20Express:${account.id}%40example\\.com\\?secret=[A-Z2-7]{32}&issuer=Keys%20Express&algorithm=SHA1&digits=6&period=30$`));
    expect(view.qrDataUrl).to.match(/^data:image\/png;base64,/);
    expect(decodeQrDataUrl(view.qrDataUrl)).to.equal(view.otpauthUri);
    expect(view.manualKey.replace(/ /g, '')).to.equal(secretOfUri(view.otpauthUri));
    expect(view.manualKey).to.match(/^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/);
  });

  it('keeps the same pending secret when begin is called again, and makes a new one on renew', async () => {
    const account = newAccount();
    const first = viewOf(await totp.enrol.begin(account));
    const again = viewOf(await totp.enrol.begin(account));
    expect(again.otpauthUri).to.equal(first.otpauthUri);
    const renewed = viewOf(await totp.enrol.begin(account, { renew: true }));
    expect(secretOfUri(renewed.otpauthUri)).to.not.equal(secretOfUri(first.otpauthUri));
    expect(viewOf(await totp.enrol.begin(account)).otpauthUri).to.equal(renewed.otpauthUri);
  });

  it('shows one and the same pending secret to parallel begins', async () => {
    const account = newAccount();
    const views = await Promise.all(Array.from({ length: 10 }, async () => viewOf(await totp.enrol.begin(account))));
    expect(new Set(views.map((view) => view.otpauthUri)).size).to.equal(1);
    expect(viewOf(await totp.enrol.begin(account)).otpauthUri).to.equal(views[0]?.otpauthUri);
  });

  it('gives every enrolment a different 160-bit secret', async () => {
    const secrets = new Set<string>();
    for (let i = 0; i < 5; i += 1) secrets.add(secretOfUri(viewOf(await totp.enrol.begin(newAccount())).otpauthUri));
    expect(secrets.size).to.equal(5);
    for (const secret of secrets) expect(secret).to.have.length(32); // 32 base32 symbols = 160 bits
  });

  it('activates only after a correct code: a wrong code keeps the same pending secret and nothing active', async () => {
    clock = freezeClock(T0);
    const account = newAccount();
    const view = viewOf(await totp.enrol.begin(account));
    const secret = secretOfUri(view.otpauthUri);
    const right = await appCode(secret);
    const wrong = await wrongCode(secret);
    expect(await totp.enrol.confirm(account.id, wrong)).to.deep.equal({ ok: false, code: 'invalid_code' });
    expect(await totp.isEnrolled(account.id)).to.equal(false);
    expect(await totp.verify(account.id, right)).to.deep.equal({ ok: false, code: 'not_enrolled' });
    expect(viewOf(await totp.enrol.begin(account)).otpauthUri).to.equal(view.otpauthUri);
    expect(await totp.enrol.confirm(account.id, right)).to.deep.equal({ ok: true, replaced: false });
    expect(await totp.isEnrolled(account.id)).to.equal(true);
  });

  it('accepts a confirmation typed from the manual key', async () => {
    clock = freezeClock(T0);
    const account = newAccount();
    const view = viewOf(await totp.enrol.begin(account));
    expect(await totp.enrol.confirm(account.id, await appCode(view.manualKey))).to.include({ ok: true });
  });

  it('does not let the code that confirmed the enrolment sign in again', async () => {
    clock = freezeClock(T0);
    const account = newAccount();
    const secret = secretOfUri(viewOf(await totp.enrol.begin(account)).otpauthUri);
    const code = await appCode(secret);
    await totp.enrol.confirm(account.id, code);
    expect(await totp.verify(account.id, code)).to.deep.equal({ ok: false, code: 'code_replayed' });
    clock.tick(30_000);
    expect(await totp.verify(account.id, await appCode(secret))).to.include({ ok: true, factorId: totp.id });
  });

  it('says not_enrolled when confirming without a pending enrolment, and expired after an hour', async () => {
    clock = freezeClock(T0);
    const account = newAccount();
    expect(await totp.enrol.confirm(account.id, '123456')).to.deep.equal({ ok: false, code: 'not_enrolled' });
    const secret = secretOfUri(viewOf(await totp.enrol.begin(account)).otpauthUri);
    clock.tick(3_600_001);
    expect(await totp.enrol.confirm(account.id, await appCode(secret))).to.deep.equal({ ok: false, code: 'expired' });
    const fresh = secretOfUri(viewOf(await totp.enrol.begin(account)).otpauthUri);
    expect(fresh).to.not.equal(secret);
  });

  it('answers malformed codes with invalid_code and never throws', async () => {
    clock = freezeClock(T0);
    const account = newAccount();
    const secret = secretOfUri(viewOf(await totp.enrol.begin(account)).otpauthUri);
    await totp.enrol.confirm(account.id, await appCode(secret));
    clock.tick(30_000);
    for (const bad of ['12345', '1234567', 'abcdef', '12 34 5x', '9'.repeat(1_000_000), 123456, null, undefined, { $gt: '' }, ['123456']]) {
      const result = await totp.verify(account.id, bad) as FactorFailure;
      expect(result, String(bad).slice(0, 20)).to.deep.equal({ ok: false, code: 'invalid_code' });
      expect(await totp.enrol.confirm(account.id, bad)).to.have.property('ok', false);
      await bed.attempts.reset(account.id);
    }
    expect(await totp.verify(account.id, await appCode(secret))).to.include({ ok: true });
  });

  it('stores the secret sealed: the raw document holds neither the base32 key nor its bytes', async () => {
    const account = newAccount();
    const view = viewOf(await totp.enrol.begin(account));
    const secret = secretOfUri(view.otpauthUri);
    const raw = await conn.collection('totp_enrolments').findOne({ _id: account.id as never });
    const text = JSON.stringify(raw);
    expect(raw?.pending?.secret?.kid).to.equal(bed.secretBox.activeKeyId);
    expect(text).to.not.include(secret);
    expect(text.toLowerCase()).to.not.include(secret.toLowerCase());
    const bytes = Buffer.from(new (await import('otplib')).ScureBase32Plugin().decode(secret));
    expect(text).to.not.include(bytes.toString('base64'));
    expect(text).to.not.include(bytes.toString('hex'));
  });

  it('keeps verifying an enrolment sealed under a rotated-out key, and re-seals it under the active key', async () => {
    clock = freezeClock(T0);
    const account = newAccount();
    const oldKey = generateKey();
    const newKey = generateKey();
    const factorWith = (keys: Record<string, Buffer>, activeKeyId: string): TotpFactor =>
      createTotpFactor({ conn, attempts: bed.attempts, issuer: TEST_ISSUER, secretBox: createSecretBox({ activeKeyId, keys }) });
    const secret = await enrolTotp(factorWith({ old: oldKey }, 'old'), account);
    clock.tick(30_000);
    expect(await factorWith({ new: newKey, old: oldKey }, 'new').verify(account.id, await appCode(secret))).to.include({ ok: true });
    const raw = await conn.collection('totp_enrolments').findOne({ _id: account.id as never });
    expect(raw?.active?.secret?.kid).to.equal('new');
    clock.tick(30_000);
    expect(await factorWith({ new: newKey }, 'new').verify(account.id, await appCode(secret))).to.include({ ok: true });
  });

  it('reports when the active enrolment was confirmed, and nothing for a pending one', async () => {
    clock = freezeClock(T0);
    const account = newAccount();
    const secret = secretOfUri(viewOf(await totp.enrol.begin(account)).otpauthUri);
    expect(await totp.enrolledAt(account.id)).to.equal(undefined);
    clock.tick(42_000);
    await totp.enrol.confirm(account.id, await appCode(secret));
    expect(await totp.enrolledAt(account.id)).to.deep.equal(new Date(T0 + 42_000));
  });

  it('removes active and pending enrolments, idempotently', async () => {
    clock = freezeClock(T0);
    const account = newAccount();
    const secret = secretOfUri(viewOf(await totp.enrol.begin(account)).otpauthUri);
    await totp.enrol.confirm(account.id, await appCode(secret));
    await totp.remove(account.id);
    await totp.remove(account.id);
    expect(await totp.isEnrolled(account.id)).to.equal(false);
    expect(await totp.enrol.confirm(account.id, await appCode(secret))).to.deep.equal({ ok: false, code: 'not_enrolled' });
  });
});
