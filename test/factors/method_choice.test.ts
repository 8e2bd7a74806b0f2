/**
 * Method choice: the challenge opens on the customer's primary method and offers the other methods that satisfy the
 * requested level — a level-3 request never offers the email code.
 */
import { expect } from 'chai';
import type { Factor } from '../../src/factors/contract.ts';
import { createMethodChoice, type MethodChoice } from '../../src/factors/method_choice.ts';
import { RECOVERY_FACTOR_ID, type RecoveryFactor } from '../../src/factors/recovery/factor.ts';
import { createFactorRegistry } from '../../src/factors/registry.ts';
import { TOTP_FACTOR_ID, type TotpFactor } from '../../src/factors/totp/factor.ts';
import { LEVEL } from '../../src/policy/acr.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { connectFreshDb } from '../helpers/db.ts';
import { enrolEmail, sendAndRead, setUpEmailBed, type EmailBed } from './email/bed.ts';
import { T0, appCode, connectSameDb, enrolTotp, newAccount } from './support.ts';

const ids = (factors: readonly (Factor | undefined)[]): (string | undefined)[] => factors.map((factor) => factor?.id);

describe('method choice', () => {
  let bed: EmailBed;
  let choice: MethodChoice;
  let totp: TotpFactor;
  let recovery: RecoveryFactor;
  const clock = useFrozenClock({ at: T0, each: true });

  before(async () => {
    bed = await setUpEmailBed('method_choice');
    choice = createMethodChoice({ conn: bed.conn, registry: bed.registry });
    totp = bed.registry.get(TOTP_FACTOR_ID) as TotpFactor;
    recovery = bed.registry.get(RECOVERY_FACTOR_ID) as RecoveryFactor;
  });
  after(async () => bed.close());

  /** An account with the authenticator app, the email code and recovery codes. */
  async function withAllMethods(): Promise<{ id: string; email: string; secret: string; recoveryCodes: string[] }> {
    const account = newAccount();
    const secret = await enrolTotp(totp, account);
    clock.tick(60_000);
    await enrolEmail(bed, account);
    const recoveryCodes = await recovery.generate(account.id);
    clock.tick(30_000);
    return { ...account, secret, recoveryCodes };
  }

  it('opens on the only enrolled method and offers no other', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    expect(ids([await choice.primaryFactor(account.id, LEVEL.mfa)])).to.deep.equal([bed.email.id]);
    expect(await choice.alternativeFactors(account.id, LEVEL.mfa)).to.deep.equal([]);
  });

  it('offers nothing to an account without a factor', async () => {
    const { id } = newAccount();
    expect(await choice.methodOptions(id, LEVEL.mfa)).to.deep.equal({ primary: undefined, alternatives: [] });
  });

  it('at level 2 opens on a primary method and offers every other enrolled method, recovery code included', async () => {
    const account = await withAllMethods();
    const { primary, alternatives } = await choice.methodOptions(account.id, LEVEL.mfa);
    expect(primary?.role).to.equal('primary');
    expect(ids([primary, ...alternatives]).sort()).to.deep.equal([bed.email.id, recovery.id, totp.id].sort());
    expect(alternatives.at(-1)).to.equal(recovery);
  });

  it('never offers the email code for a level-3 request, even as the chosen primary; app and recovery code work', async () => {
    const account = await withAllMethods();
    expect(await choice.choosePrimary(account.id, bed.email.id)).to.deep.equal({ ok: true });
    expect(ids([await choice.primaryFactor(account.id, LEVEL.mfa)])).to.deep.equal([bed.email.id]);

    const strong = await choice.methodOptions(account.id, LEVEL.mfaApp);
    expect(ids([strong.primary])).to.deep.equal([totp.id]);
    expect(ids(strong.alternatives)).to.deep.equal([recovery.id]);
    const offered = [strong.primary, ...strong.alternatives] as Factor[];
    expect(offered).to.not.include(bed.email);
    for (const factor of offered) expect(factor.level).to.be.at.least(LEVEL.mfaApp);
    expect(await totp.verify(account.id, await appCode(account.secret))).to.include({ ok: true, level: LEVEL.mfaApp });
    expect(await recovery.verify(account.id, account.recoveryCodes[0])).to.include({ ok: true, level: LEVEL.mfaApp });
  });

  it('opens a level-3 request on the recovery code when the app is not enrolled, and never on email', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    await recovery.generate(account.id);
    expect(await choice.methodOptions(account.id, LEVEL.mfaApp)).to.deep.equal({ primary: recovery, alternatives: [] });
    expect(ids([await choice.primaryFactor(account.id, LEVEL.mfa)])).to.deep.equal([bed.email.id]);
  });

  it('stores the chosen primary method per account, for every server instance', async () => {
    const account = await withAllMethods();
    expect(await choice.choosePrimary(account.id, totp.id)).to.deep.equal({ ok: true });
    expect(await choice.choosePrimary(account.id, bed.email.id)).to.deep.equal({ ok: true });
    const connB = await connectSameDb(bed.conn);
    try {
      const other = createMethodChoice({ conn: connB, registry: bed.registry });
      expect(ids([await other.primaryFactor(account.id, LEVEL.mfa)])).to.deep.equal([bed.email.id]);
      expect(ids(await other.alternativeFactors(account.id, LEVEL.mfa))).to.deep.equal([totp.id, recovery.id]);
    } finally {
      await connB.close();
    }
    const stored = await bed.conn.collection('factor_preferences').findOne({ _id: account.id as never });
    expect(stored).to.include({ primaryFactorId: bed.email.id });
  });

  it('lets only an enrolled primary-role factor be chosen', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    await recovery.generate(account.id);
    expect(await choice.choosePrimary(account.id, totp.id)).to.deep.equal({ ok: false, code: 'not_enrolled' });
    expect(await choice.choosePrimary(account.id, recovery.id)).to.deep.equal({ ok: false, code: 'invalid_factor' });
    expect(await choice.choosePrimary(account.id, 'sms')).to.deep.equal({ ok: false, code: 'invalid_factor' });
    expect(await choice.choosePrimary(account.id, { $ne: 'x' } as unknown as string)).to.deep.equal({ ok: false, code: 'invalid_factor' });
    expect(await bed.conn.collection('factor_preferences').findOne({ _id: account.id as never })).to.equal(null);
  });

  it('falls back to the next method when the primary one is removed, and does not restore it when re-added', async () => {
    const account = await withAllMethods();
    await choice.choosePrimary(account.id, bed.email.id);
    await bed.email.remove(account.id);
    expect(await choice.methodOptions(account.id, LEVEL.mfa)).to.deep.equal({ primary: totp, alternatives: [recovery] });
    clock.tick(30_000);
    await enrolEmail(bed, account);
    expect(ids([await choice.primaryFactor(account.id, LEVEL.mfa)])).to.deep.equal([totp.id]);
    clock.tick(30_000);
    expect(await bed.email.verify(account.id, await sendAndRead(bed, account))).to.include({ ok: true });
  });

  it('forgets the choice on clear', async () => {
    const account = await withAllMethods();
    await choice.choosePrimary(account.id, bed.email.id);
    await choice.clear(account.id);
    await choice.clear(account.id);
    expect(ids([await choice.primaryFactor(account.id, LEVEL.mfa)])).to.deep.equal([totp.id]);
  });

  describe('default primary method', () => {
    /** A primary factor double that reports when it was enrolled. */
    function dated(id: string, level: number, enrolled: Map<string, Date>): Factor {
      return {
        id, amr: ['otp'], level, label: id, role: 'primary', views: { challenge: `factors/${id}/challenge` },
        verify: async () => ({ ok: false, code: 'invalid_code' }),
        isEnrolled: async (accountId) => enrolled.has(accountId),
        enrolledAt: async (accountId) => enrolled.get(accountId),
        remove: async (accountId) => {
          enrolled.delete(accountId);
        },
      };
    }

    it('is the first enrolled method, not the first registered one, and the next one once it is removed', async () => {
      const conn = await connectFreshDb('method_choice_default');
      try {
        const appEnrolled = new Map([['alice', new Date(T0 + 60_000)], ['bob', new Date(T0)]]);
        const mailEnrolled = new Map([['alice', new Date(T0)], ['bob', new Date(T0 + 60_000)]]);
        const app = dated('app', 3, appEnrolled);
        const mail = dated('mail', 2, mailEnrolled);
        const stubChoice = createMethodChoice({ conn, registry: createFactorRegistry([app, mail]) });
        expect(await stubChoice.methodOptions('alice', LEVEL.mfa)).to.deep.equal({ primary: mail, alternatives: [app] });
        expect(await stubChoice.methodOptions('bob', LEVEL.mfa)).to.deep.equal({ primary: app, alternatives: [mail] });
        await mail.remove('alice');
        expect(await stubChoice.methodOptions('alice', LEVEL.mfa)).to.deep.equal({ primary: app, alternatives: [] });
      } finally {
        await conn.close();
      }
    });
  });
});
