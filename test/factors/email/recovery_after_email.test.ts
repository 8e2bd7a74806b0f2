import { expect } from 'chai';
import { RECOVERY_FACTOR_ID, type RecoveryFactor } from '../../../src/factors/recovery/factor.ts';
import { T0, newAccount } from '../support.ts';
import { enrolEmail, setUpEmailBed, type EmailBed } from './bed.ts';
import { useFrozenClock } from '../../helpers/clock.ts';

describe('enrolment hijack: recovery codes on an account whose only second factor is email', () => {
  let bed: EmailBed;
  const clock = useFrozenClock({ at: T0, each: true });
  let recovery: RecoveryFactor;

  before(async () => {
    bed = await setUpEmailBed('recovery_after_email');
    recovery = bed.registry.get(RECOVERY_FACTOR_ID) as RecoveryFactor;
  });
  after(async () => {
    await bed.close();
  });

  it('refuses a plain begin long after email codes were enrolled, and creates no codes', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    clock.tick(60 * 60_000);
    expect(await recovery.enrol.begin(account)).to.deep.equal({ ok: false, code: 'already_enrolled' });
    expect(await recovery.isEnrolled(account.id)).to.equal(false);
  });

  it('gives the initial set right after email codes were confirmed', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    const begun = await recovery.enrol.begin(account, { initial: true });
    expect(begun.ok).to.equal(true);
    expect(await recovery.isEnrolled(account.id)).to.equal(true);
  });
});
