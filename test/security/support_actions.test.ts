import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type mongoose from 'mongoose';
import { createAccount, setSignInMfa, signInMfaEnabled, type Account } from '../../src/accounts/accounts.ts';
import { listEvents } from '../../src/audit/audit_log.ts';
import { createMethodChoice } from '../../src/factors/method_choice.ts';
import type { FactorRegistry } from '../../src/factors/registry.ts';
import { createAttemptLimiter, type AttemptLimiter } from '../../src/factors/shared/attempts.ts';
import { createSecurityEvents } from '../../src/security/events.ts';
import { createMailer, type Mailer } from '../../src/mail/transport.ts';
import {
  activeFactors, resetFactors, unlockSecondFactor, type ActionContext, type SupportDeps,
} from '../../src/security/support_actions.ts';
import { T0, TEST_ISSUER, appCode, enrolTotp, setUpFactors, type FactorBed } from '../factors/support.ts';
import { useFrozenClock } from '../helpers/clock.ts';
import { captureLogger, closedPort, startSmtp, type TestSmtp } from '../mail/support.ts';
import { builtInFactors, enrolEveryFactor, lockWithWrongCodes, memoryCodeMailer, type EnrolledSecrets } from './support.ts';
import { failOnce } from '../factors/support.ts';

const SUPPORT: ActionContext = { actor: { type: 'support', id: 'alice' } };

describe('support actions: reset factors, unlock', () => {
  let bed: FactorBed;
  let registry: FactorRegistry;
  let conn: mongoose.Connection;
  let codes: ReturnType<typeof memoryCodeMailer>;
  let smtp: TestSmtp;
  let mailer: Mailer;
  let deps: SupportDeps;
  const auditOnly = () => ({ conn, events: createSecurityEvents({ conn }) });
  const clock = useFrozenClock({ at: T0, each: true });

  before(async () => {
    codes = memoryCodeMailer();
    bed = await setUpFactors('support_actions', undefined, { codeMailer: codes });
    ({ registry, conn } = bed);
    smtp = await startSmtp();
    mailer = createMailer({ smtpUrl: smtp.url, from: 'no-reply@keys.example', issuerName: TEST_ISSUER, production: true });
    deps = { conn, factors: registry, events: createSecurityEvents({ conn, mail: { mailer, issuerName: TEST_ISSUER } }) };
  });
  after(async () => {
    await mailer.close();
    await smtp.close();
    await conn.close();
  });

  /** The next message for `email`, skipping mails of earlier tests that were not waited for. */
  async function mailTo(email: string): Promise<Awaited<ReturnType<TestSmtp['next']>>> {
    for (;;) {
      const mail = await smtp.next();
      if (mail.envelopeTo.includes(email)) return mail;
    }
  }

  async function customer(): Promise<Account> {
    return createAccount(conn, { email: `c_${randomBytes(5).toString('hex')}@example.com`, name: 'Max Muster', password: 'a long password' });
  }

  /** A customer with every factor, email codes chosen as primary method, and a locked second factor. */
  async function lockedOutCustomer(): Promise<{ account: Account; secrets: EnrolledSecrets }> {
    const account = await customer();
    const secrets = await enrolEveryFactor(registry, codes, account);
    expect(await createMethodChoice({ conn, registry }).choosePrimary(account.id, builtInFactors(registry).email.id)).to.deep.equal({ ok: true });
    await lockWithWrongCodes(builtInFactors(registry).totp, account.id, secrets.totpSecret);
    expect(await bed.attempts.status(account.id)).to.include({ locked: true });
    return { account, secrets };
  }

  describe('resetFactors', () => {
    it('removes the app, email codes and recovery codes, and says which were active', async () => {
      const { account, secrets } = await lockedOutCustomer();
      const { totp, email, recovery } = builtInFactors(registry);
      const result = await resetFactors(deps, account, 'support', SUPPORT);
      expect(result.removed).to.have.members([totp.id, email.id, recovery.id]).and.have.length(3);
      expect(await activeFactors(registry, account.id)).to.deep.equal([]);
      expect(await registry.usableFactors(account.id, 2)).to.deep.equal([]);
      // the old credentials prove nothing any more
      expect(await totp.verify(account.id, await appCode(secrets.totpSecret))).to.include({ ok: false, code: 'not_enrolled' });
      expect((await recovery.verify(account.id, secrets.recoveryCodes[0])).ok).to.equal(false);
      await mailTo(account.email);
    });

    it('lifts the lockout: after re-enrolling, the right code works at once', async () => {
      const { account } = await lockedOutCustomer();
      const result = await resetFactors(deps, account, 'support', SUPPORT);
      expect(result.unlocked).to.equal(true);
      expect(await bed.attempts.status(account.id)).to.include({ locked: false, failures: 0 });
      const { totp } = builtInFactors(registry);
      clock.tick(30_000); // a new time step: the earlier enrolment's last accepted step does not matter
      const secret = await enrolTotp(totp, account);
      clock.tick(30_000);
      expect(await totp.verify(account.id, await appCode(secret))).to.include({ ok: true });
      await mailTo(account.email);
    });

    it('forgets the primary method: re-added factors do not silently bring the old choice back', async () => {
      const { account } = await lockedOutCustomer();
      await resetFactors(deps, account, 'support', SUPPORT);
      expect(await conn.collection('factor_preferences').findOne({ _id: account.id as never })).to.equal(null);
      // Re-enrol both primary methods: with the old choice kept, email codes would open the challenge again.
      const { totp, email } = builtInFactors(registry);
      await enrolTotp(totp, account);
      clock.tick(31_000); // the email factor's resend cooldown outlives a removal (no mail bombing through re-enrolment)
      const begun = await email.enrol.begin(account);
      expect(begun).to.include({ ok: true });
      expect((await email.enrol.confirm(account.id, codes.latest(account.email))).ok).to.equal(true);
      expect((await createMethodChoice({ conn, registry }).primaryFactor(account.id, 2))?.id).to.equal(totp.id);
      await mailTo(account.email);
    });

    it('records who did it and what went, with no secret in the record', async () => {
      const { account, secrets } = await lockedOutCustomer();
      const result = await resetFactors(deps, account, 'support', { ...SUPPORT, ip: '203.0.113.7', userAgent: 'support-console/1.0' });
      expect(result).to.include({ recorded: true, mailed: true });
      const events = (await listEvents(conn, account.id)).filter((event) => event.event === 'factors_reset');
      expect(events).to.have.length(1);
      const [event] = events;
      expect(event).to.deep.include({ accountId: account.id, actor: { type: 'support', id: 'alice' }, ip: '203.0.113.7', userAgent: 'support-console/1.0' });
      expect(event?.details).to.deep.include({ by: 'support', unlocked: true });
      expect(event?.details?.removed).to.have.members(result.removed);
      const stored = JSON.stringify(await conn.collection('audit_events').find({ accountId: account.id }).toArray());
      for (const secret of [secrets.totpSecret, secrets.emailCode, ...secrets.recoveryCodes]) expect(stored).to.not.include(secret);
      await mailTo(account.email);
    });

    it('emails the customer through SMTP that support reset the two-factor authentication', async () => {
      const { account, secrets } = await lockedOutCustomer();
      await resetFactors(deps, account, 'support', SUPPORT);
      const { parsed, envelopeTo, raw } = await mailTo(account.email);
      expect(envelopeTo).to.deep.equal([account.email]);
      expect(parsed.subject).to.equal(`Your ${TEST_ISSUER} two-factor authentication (2FA) was reset`);
      expect(String(parsed.text)).to.include(`removed by ${TEST_ISSUER} support`).and.include('Hello Max Muster');
      for (const secret of [secrets.totpSecret, ...secrets.recoveryCodes]) expect(raw).to.not.include(secret);
    });

    it("a company admin's reset names the admin in the record and the mail", async () => {
      const { account } = await lockedOutCustomer();
      await resetFactors(deps, account, 'admin', { actor: { type: 'admin', id: 'acc_boss' } });
      const [event] = await listEvents(conn, account.id);
      expect(event).to.deep.include({ event: 'factors_reset', actor: { type: 'admin', id: 'acc_boss' } });
      expect(event?.details).to.include({ by: 'admin' });
      expect(String((await mailTo(account.email)).parsed.text)).to.include('removed by your company administrator');
    });

    it('keeps the customer\'s "ask for a code at sign-in" setting, so the next sign-in asks for a new factor', async () => {
      const { account } = await lockedOutCustomer();
      await setSignInMfa(conn, account.id, true);
      await resetFactors(deps, account, 'support', SUPPORT);
      expect(await signInMfaEnabled(conn, account.id)).to.equal(true);
      expect(await registry.hasPrimaryFactor(account.id)).to.equal(false);
      await mailTo(account.email);
    });

    it('without mail configured, the reset is still recorded and nothing is sent', async () => {
      const { account } = await lockedOutCustomer();
      const before = smtp.received.length;
      const result = await resetFactors({ conn, factors: registry, events: createSecurityEvents({ conn }) }, account, 'support', SUPPORT);
      expect(result).to.include({ recorded: true, mailed: false, unlocked: true });
      expect(result.removed).to.have.length(3);
      const [event] = await listEvents(conn, account.id);
      expect(event).to.deep.include({ event: 'factors_reset', actor: { type: 'support', id: 'alice' } });
      expect(event?.details).to.deep.include({ by: 'support', unlocked: true });
      expect(smtp.received.length).to.equal(before);
    });

    it('a failed mail is reported and recorded, and the reset stands', async () => {
      const { account } = await lockedOutCustomer();
      const logger = captureLogger();
      const broken = createMailer({ smtpUrl: `smtp://127.0.0.1:${await closedPort()}`, from: 'no-reply@keys.example', issuerName: TEST_ISSUER, production: true });
      try {
        const result = await resetFactors({ conn, factors: registry, events: createSecurityEvents({ conn, mail: { mailer: broken, issuerName: TEST_ISSUER }, logger }) }, account, 'support', SUPPORT);
        expect(result).to.include({ recorded: true, mailed: false });
        expect(await activeFactors(registry, account.id)).to.deep.equal([]);
        expect((await listEvents(conn, account.id)).map((event) => event.event)).to.include.members(['factors_reset', 'notification_failed']);
      } finally {
        await broken.close();
      }
    });

    it('is idempotent: a second reset finds nothing, records and mails nothing, and says so', async () => {
      const { account } = await lockedOutCustomer();
      await resetFactors(deps, account, 'support', SUPPORT);
      await mailTo(account.email);
      const recorded = (await listEvents(conn, account.id)).length;
      const mailed = smtp.received.length;
      expect(await resetFactors(deps, account, 'support', SUPPORT)).to.deep.equal({ removed: [], unlocked: false, recorded: false, mailed: false });
      expect(await listEvents(conn, account.id)).to.have.length(recorded);
      expect(smtp.received.length).to.equal(mailed);
    });

    it('an account with no factor but a lock left over: the lock is lifted and recorded as an unlock, no mail', async () => {
      const account = await customer();
      for (let i = 0; i < 5; i += 1) await failOnce(bed.attempts, account.id);
      expect(await bed.attempts.status(account.id)).to.include({ locked: true });
      const mailed = smtp.received.length;
      expect(await resetFactors(deps, account, 'support', SUPPORT)).to.deep.equal({ removed: [], unlocked: true, recorded: true, mailed: false });
      const [event] = await listEvents(conn, account.id);
      expect(event).to.deep.include({ event: 'account_unlocked', actor: { type: 'support', id: 'alice' }, details: { scope: 'second_factor' } });
      expect(smtp.received.length).to.equal(mailed);
    });
  });

  describe('unlockSecondFactor', () => {
    it('lifts a lockout so the right app code works again; the factors stay', async () => {
      const account = await customer();
      const { totp } = builtInFactors(registry);
      const secret = await enrolTotp(totp, account);
      clock.tick(30_000);
      await lockWithWrongCodes(totp, account.id, secret);
      expect(await totp.verify(account.id, await appCode(secret))).to.include({ ok: false, code: 'locked' });

      expect(await unlockSecondFactor(auditOnly(), account, SUPPORT)).to.deep.equal({ unlocked: true, recorded: true });
      expect(await totp.verify(account.id, await appCode(secret))).to.include({ ok: true });
      expect(await totp.isEnrolled(account.id)).to.equal(true);
      const [event] = await listEvents(conn, account.id);
      expect(event).to.deep.include({ event: 'account_unlocked', actor: { type: 'support', id: 'alice' }, details: { scope: 'second_factor' } });
    });

    it('lifts a permanent lock (the 100-failure cap) too', async () => {
      const account = await customer();
      const strict: AttemptLimiter = createAttemptLimiter(conn, { policy: { failuresPerLockout: 2, maxConsecutiveFailures: 2 } });
      await failOnce(strict, account.id);
      await failOnce(strict, account.id);
      expect(await strict.status(account.id)).to.include({ locked: true, permanent: true });
      expect((await unlockSecondFactor(auditOnly(), account, SUPPORT)).unlocked).to.equal(true);
      expect(await strict.status(account.id)).to.include({ locked: false, failures: 0 });
    });

    it('an account that is not locked: a clear "not locked", failures cleared, nothing recorded', async () => {
      const account = await customer();
      await failOnce(bed.attempts, account.id);
      expect(await unlockSecondFactor(auditOnly(), account, SUPPORT)).to.deep.equal({ unlocked: false, recorded: false });
      expect(await bed.attempts.status(account.id)).to.include({ failures: 0 });
      expect(await listEvents(conn, account.id)).to.deep.equal([]);
    });
  });
});
