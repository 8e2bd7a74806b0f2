/**
 * The email-code factor as a customer meets it: enrolment by a code sent to their address, sign-in codes that work for
 * 10 minutes, one live code at a time, the masked address. Every code in these tests travels through a real SMTP server
 * and is read from the received mail.
 */
import { expect } from 'chai';
import { EMAIL_CODE_AMR_URN } from '../../../src/factors/email/factor.ts';
import { LEVEL, amrFor, levelFromMethods, PASSWORD_METHOD } from '../../../src/policy/acr.ts';
import { T0, newAccount, otherCode } from '../support.ts';
import { enrolEmail, sendAndRead, setUpEmailBed, type EmailBed } from './bed.ts';
import { useFrozenClock } from '../../helpers/clock.ts';

const MINUTE = 60_000;

describe('email-code factor', () => {
  let bed: EmailBed;
  const clock = useFrozenClock({ at: T0, each: true });

  before(async () => {
    bed = await setUpEmailBed('email_code');
  });
  after(async () => bed.close());

  /** An enrolled account, with the clock moved past the enrolment mail's resend cooldown. */
  async function enrolled(): Promise<{ id: string; email: string }> {
    const account = newAccount();
    await enrolEmail(bed, account);
    clock.tick(30_000);
    return account;
  }

  describe('enrolment', () => {
    it('mails a code to the account address and activates the factor only once that code is confirmed', async () => {
      const account = newAccount();
      const begun = await bed.email.enrol.begin(account);
      expect(begun).to.deep.include({ ok: true, status: 'pending' });
      expect(begun.ok && begun.view).to.deep.include({
        sentTo: `${account.email[0]}•••@example.com`, expiresAt: new Date(T0 + 10 * MINUTE), replacing: false,
      });
      expect(bed.sink.mailsTo(account.email)).to.have.length(1);
      expect(await bed.email.isEnrolled(account.id)).to.equal(false);
      expect(await bed.registry.usableFactors(account.id, LEVEL.mfa)).to.not.include(bed.email);

      expect(await bed.email.enrol.confirm(account.id, bed.sink.latestCode(account.email))).to.deep.equal({ ok: true, replaced: false });
      expect(await bed.email.isEnrolled(account.id)).to.equal(true);
      expect(await bed.email.enrolledAt(account.id)).to.deep.equal(new Date(T0));
      expect(await bed.registry.usableFactors(account.id, LEVEL.mfa)).to.include(bed.email);
    });

    it('changes nothing on a wrong enrolment code, and tells how many tries are left', async () => {
      const account = newAccount();
      await bed.email.enrol.begin(account);
      const code = bed.sink.latestCode(account.email);
      expect(await bed.email.enrol.confirm(account.id, otherCode(code))).to.deep.equal({ ok: false, code: 'invalid_code', triesLeft: 4 });
      expect(await bed.email.isEnrolled(account.id)).to.equal(false);
      expect(await bed.email.enrol.confirm(account.id, code)).to.include({ ok: true });
    });

    it('does not mail again when the page is reloaded while the code still works, but does on "send a new code"', async () => {
      const account = newAccount();
      await bed.email.enrol.begin(account);
      clock.tick(40_000);
      expect(await bed.email.enrol.begin(account)).to.deep.include({ ok: true, status: 'pending' });
      expect(bed.sink.mailsTo(account.email)).to.have.length(1);
      const first = bed.sink.latestCode(account.email);
      expect(await bed.email.enrol.begin(account, { renew: true })).to.deep.include({ ok: true, status: 'pending' });
      expect(bed.sink.mailsTo(account.email)).to.have.length(2);
      const second = bed.sink.latestCode(account.email);
      if (first !== second) expect(await bed.email.enrol.confirm(account.id, first)).to.include({ ok: false, code: 'invalid_code' });
      expect(await bed.email.enrol.confirm(account.id, second)).to.include({ ok: true });
    });

    it('refuses an enrolment code that is older than 10 minutes', async () => {
      const account = newAccount();
      await bed.email.enrol.begin(account);
      clock.tick(10 * MINUTE);
      expect(await bed.email.enrol.confirm(account.id, bed.sink.latestCode(account.email))).to.deep.equal({ ok: false, code: 'expired' });
      expect(await bed.email.isEnrolled(account.id)).to.equal(false);
    });

    it('refuses confirm without a pending enrolment', async () => {
      expect(await bed.email.enrol.confirm(newAccount().id, '123456')).to.deep.equal({ ok: false, code: 'not_enrolled' });
    });

    it('re-verifies a changed address only with replace, and keeps the old address working until confirmed', async () => {
      const account = await enrolled();
      const moved = { ...account, email: `new_${account.email}` };
      expect(await bed.email.enrol.begin(moved)).to.deep.equal({ ok: false, code: 'already_enrolled' });
      expect(await bed.email.enrol.begin(moved, { replace: true })).to.deep.include({ ok: true, status: 'pending' });
      expect(await bed.email.isEnrolled(account.id)).to.equal(true);
      expect(await bed.email.maskedAddress(account.id)).to.equal(`${account.email[0]}•••@example.com`);
      expect(await bed.email.enrol.confirm(account.id, bed.sink.latestCode(moved.email))).to.deep.equal({ ok: true, replaced: true });
      expect(await bed.email.maskedAddress(account.id)).to.equal('n•••@example.com');
      clock.tick(30_000);
      await sendAndRead(bed, account);
      expect(bed.sink.mailsTo(moved.email)).to.have.length(2);
    });
  });

  describe('challenge', () => {
    it('sends a code to the verified address that signs in once, at level 2 with otp and the email URN', async () => {
      const account = await enrolled();
      const sent = await bed.email.challenge.send(account);
      expect(sent).to.deep.equal({
        ok: true, expiresAt: new Date(Date.now() + 10 * MINUTE), sentTo: `${account.email[0]}•••@example.com`,
        resendAvailableAt: new Date(Date.now() + 30_000),
      });
      const result = await bed.email.verify(account.id, bed.sink.latestCode(account.email));
      expect(result).to.deep.equal({ ok: true, factorId: bed.email.id, amr: ['otp', EMAIL_CODE_AMR_URN], level: LEVEL.mfa });
      // What the session derives from password + email code: level 2 (never 3), and RFC 8176 `mfa`.
      expect(levelFromMethods([PASSWORD_METHOD, bed.email])).to.equal(LEVEL.mfa);
      expect(amrFor([PASSWORD_METHOD, bed.email])).to.deep.equal(['pwd', 'otp', EMAIL_CODE_AMR_URN, 'mfa']);
    });

    it('accepts the code as the customer may type it: with a space in the middle', async () => {
      const account = await enrolled();
      const code = await sendAndRead(bed, account);
      expect(await bed.email.verify(account.id, ` ${code.slice(0, 3)} ${code.slice(3)} `)).to.include({ ok: true });
    });

    it('accepts a code until 10 minutes have passed, and then refuses it as expired', async () => {
      const first = await enrolled();
      const code = await sendAndRead(bed, first);
      clock.tick(10 * MINUTE - 1);
      expect(await bed.email.verify(first.id, code)).to.include({ ok: true });

      const second = await enrolled();
      const late = await sendAndRead(bed, second);
      clock.tick(10 * MINUTE);
      expect(await bed.email.verify(second.id, late)).to.deep.equal({ ok: false, code: 'expired' });
    });

    it('makes the old code dead once a new one was sent', async () => {
      const account = await enrolled();
      const old = await sendAndRead(bed, account);
      const rawOf = async () => bed.conn.collection('email_code_factors').findOne({ _id: account.id as never });
      const oldSlot = (await rawOf())?.code as { id: string; hash: string };
      clock.tick(30_000);
      const fresh = await sendAndRead(bed, account);
      // Whatever the digits, the old send is gone: neither its id nor its hash is in the database any more.
      expect(JSON.stringify(await rawOf())).to.not.include(oldSlot.id).and.not.include(oldSlot.hash);
      if (old !== fresh) expect(await bed.email.verify(account.id, old)).to.deep.equal({ ok: false, code: 'invalid_code', triesLeft: 4 });
      expect(await bed.email.verify(account.id, fresh)).to.include({ ok: true });
    });

    it('does not accept an enrolment code as a sign-in code', async () => {
      const account = newAccount();
      await bed.email.enrol.begin(account);
      const code = bed.sink.latestCode(account.email);
      expect(await bed.email.verify(account.id, code)).to.deep.equal({ ok: false, code: 'not_enrolled' });
    });

    it('sends nothing for an account without the factor', async () => {
      const account = newAccount();
      expect(await bed.email.challenge.send(account)).to.deep.equal({ ok: false, code: 'not_enrolled' });
      expect(bed.sink.mailsTo(account.email)).to.have.length(0);
      expect(await bed.email.maskedAddress(account.id)).to.equal(undefined);
    });

    it('refuses a code sent before the factor was removed', async () => {
      const account = await enrolled();
      const code = await sendAndRead(bed, account);
      await bed.email.remove(account.id);
      expect(await bed.email.verify(account.id, code)).to.deep.equal({ ok: false, code: 'not_enrolled' });
      expect(await bed.email.challenge.send(account)).to.deep.equal({ ok: false, code: 'not_enrolled' });
    });
  });
});
