/**
 * Threat: a database dump (a backup, a leaked replica) read by an attacker. An email code must not be in it in
 * any form that gives the code back without the pepper from config.
 */
import { expect } from 'chai';
import { hashEmailCode } from '../../../src/factors/email/code.ts';
import { T0, newAccount } from '../support.ts';
import { enrolEmail, sendAndRead, setUpEmailBed, type EmailBed } from './bed.ts';
import { useFrozenClock } from '../../helpers/clock.ts';

describe('email code at rest', () => {
  let bed: EmailBed;
  const clock = useFrozenClock({ at: T0, each: true });

  before(async () => {
    bed = await setUpEmailBed('email_code_at_rest');
  });
  after(async () => bed.close());

  it('stores only the keyed hash of a sent code, never the code', async () => {
    const account = newAccount();
    await enrolEmail(bed, account);
    clock.tick(30_000);
    const code = await sendAndRead(bed, account);
    const doc = await bed.conn.collection('email_code_factors').findOne({ _id: account.id as never });
    expect(doc).to.not.equal(null);
    const dump = JSON.stringify(doc);
    expect(dump).to.not.include(code);
    const slot = doc?.code as { id: string; hash: string };
    expect(slot.hash).to.equal(hashEmailCode(bed.emailPepper as Buffer, account.id, slot.id, code));
    // Without the pepper the hash is not the code's plain SHA-256 or any other unkeyed digest we could recompute.
    expect(slot.hash).to.not.equal(hashEmailCode(Buffer.alloc(32), account.id, slot.id, code));
  });

  it('stores only the keyed hash of an enrolment code, never the code', async () => {
    const account = newAccount();
    await bed.email.enrol.begin(account);
    const code = bed.sink.latestCode(account.email);
    const dump = JSON.stringify(await bed.conn.collection('email_code_factors').find({}).toArray());
    expect(dump).to.include(account.id);
    expect(dump).to.not.include(code);
  });
});
