/**
 * The factor contract suite: every factor in the registry passes the same behaviour checks. A factor joins the
 * registry together with a fixture here (how a test user answers it); the first case fails for a factor without one.
 */
import { expect } from 'chai';
import mongoose from 'mongoose';
import { isFactorId, type Factor, type FactorAccount } from '../../src/factors/contract.ts';
import { createDefaultFactors } from '../../src/factors/registry.ts';
import { resetAttempts } from '../../src/factors/shared/attempts.ts';
import { createSecretBox, generateKey } from '../../src/factors/shared/secret_box.ts';
import { smtpCodeMailer, startSmtpSink, type SmtpCodeMailer, type SmtpSink } from './email/smtp_sink.ts';
import {
  T0, TEST_ISSUER, appCode, newAccount, otherCode, secretOfUri, setUpFactors, wrongCode, type FactorBed,
} from './support.ts';
import { useFrozenClock, type FrozenClock } from '../helpers/clock.ts';

/** RFC 8176 §2 registered values. */
const RFC8176 = new Set(['face', 'fpt', 'geo', 'hwk', 'iris', 'kba', 'mca', 'mfa', 'otp', 'pin', 'pwd', 'rba', 'retina', 'sc',
  'sms', 'swk', 'tel', 'user', 'vbm', 'wia']);

/** A user who enrolled a factor: what they type to pass it, and a wrong answer. */
interface Enrolled {
  /** A fresh valid input (advances the frozen clock when the factor is time-based). */
  validInput(): Promise<string>;
  wrongInput(): Promise<string>;
}

interface Fixture {
  /** Enrols `account` through the factor's own `enrol` capability. */
  enrol(factor: Factor, account: FactorAccount, clock: FrozenClock): Promise<Enrolled>;
}

function viewOf(result: Awaited<ReturnType<NonNullable<Factor['enrol']>['begin']>>): Record<string, unknown> {
  if (!result.ok) throw new Error(`enrol.begin failed: ${result.code}`);
  return result.view;
}

/** Email codes arrive through a real SMTP server (started in `before`). */
let sink: SmtpSink;
let codeMailer: SmtpCodeMailer;

const fixtures: Record<string, Fixture> = {
  totp: {
    async enrol(factor, account, clock) {
      const secret = secretOfUri(String(viewOf(await factor.enrol!.begin(account)).otpauthUri));
      const confirmed = await factor.enrol!.confirm!(account.id, await appCode(secret));
      if (!confirmed.ok) throw new Error(`confirm failed: ${confirmed.code}`);
      return {
        async validInput() {
          clock.tick(30_000);
          return appCode(secret);
        },
        wrongInput: () => wrongCode(secret),
      };
    },
  },
  email_code: {
    async enrol(factor, account, clock) {
      viewOf(await factor.enrol!.begin(account));
      const confirmed = await factor.enrol!.confirm!(account.id, sink.latestCode(account.email));
      if (!confirmed.ok) throw new Error(`confirm failed: ${confirmed.code}`);
      let live: string | undefined;
      const sendCode = async (): Promise<string> => {
        clock.tick(30_000); // past the resend cooldown
        const sent = await factor.challenge!.send(account);
        if (!sent.ok) throw new Error(`send failed: ${sent.code}`);
        live = sink.latestCode(account.email);
        return live;
      };
      return {
        validInput: sendCode,
        async wrongInput() {
          return otherCode(live ?? await sendCode());
        },
      };
    },
  },
  recovery_code: {
    async enrol(factor, account) {
      const codes = [...(viewOf(await factor.enrol!.begin(account)).codes as string[])];
      return {
        async validInput() {
          const code = codes.shift();
          if (!code) throw new Error('out of recovery codes');
          return code;
        },
        wrongInput: async () => 'zzzz-zzzz-zzzz',
      };
    },
  },
};

// The ids at load time (mocha builds its tests synchronously): the same registry on a connection never opened.
const idle = mongoose.createConnection();
const registeredIds = createDefaultFactors({
  conn: idle,
  secretBox: createSecretBox({ activeKeyId: 'k', keys: { k: generateKey() } }),
  issuer: TEST_ISSUER,
  recoveryPepper: generateKey(),
  codeMailer: { sendCode: async () => ({ ok: false, code: 'mail_failed' }) },
  emailCodePepper: generateKey(),
}).registry.all.map((factor) => factor.id);

describe('factor contract', () => {
  let bed: FactorBed;
  const clock = useFrozenClock({ at: T0, each: true });

  before(async () => {
    sink = await startSmtpSink();
    codeMailer = smtpCodeMailer(sink.port);
    bed = await setUpFactors('factor_contract', undefined, { codeMailer });
  });
  after(async () => {
    await bed.conn.close();
    await idle.close();
    codeMailer.close();
    await sink.close();
  });

  it('has a fixture for every registered factor', () => {
    expect(registeredIds.length).to.be.greaterThan(0);
    expect(registeredIds.filter((id) => !fixtures[id]), 'factors without a contract fixture').to.deep.equal([]);
  });

  for (const id of registeredIds) {
    describe(`factor ${id}`, () => {
      const factorOf = (): Factor => {
        const factor = bed.registry.get(id);
        if (!factor) throw new Error(`${id} is not registered`);
        return factor;
      };
      const enrolled = async (account: FactorAccount): Promise<Enrolled> => {
        const fixture = fixtures[id];
        if (!fixture) throw new Error(`no contract fixture for ${id}`);
        return fixture.enrol(factorOf(), account, clock);
      };

      it('declares a lower_snake_case id, RFC 8176 amr values, a level of 2 or 3, a label and its views', () => {
        const factor = factorOf();
        expect(isFactorId(factor.id)).to.equal(true);
        // At least one registered RFC 8176 value (the policy derives multi-factor from them); the factor contract
        // (docs/ARCHITECTURE.md) allows a custom URN beside them (email codes), never instead of them, and never `mfa`
        // (the policy adds it).
        expect(factor.amr.filter((value) => RFC8176.has(value) && value !== 'mfa').length).to.be.greaterThan(0);
        for (const value of factor.amr) {
          expect((RFC8176.has(value) && value !== 'mfa') || /^urn:[a-z0-9][a-z0-9-]{0,31}:\S+$/i.test(value), value).to.equal(true);
        }
        expect([2, 3]).to.include(factor.level);
        expect(factor.label).to.be.a('string').with.length.greaterThan(0);
        expect(['primary', 'backup']).to.include(factor.role);
        expect(factor.views.challenge).to.match(/^[a-z0-9_/]+$/);
        if (factor.enrol?.confirm) expect(factor.views.enrol).to.match(/^[a-z0-9_/]+$/);
      });

      it('is found by its id and is not enrolled for a new account, whose input it refuses as not_enrolled', async () => {
        const factor = factorOf();
        const { id: accountId } = newAccount();
        expect(bed.registry.get(factor.id)).to.equal(factor);
        expect(await factor.isEnrolled(accountId)).to.equal(false);
        expect(await factor.verify(accountId, '123456')).to.deep.equal({ ok: false, code: 'not_enrolled' });
        expect(await bed.registry.usableFactors(accountId, 2)).to.not.include(factor);
      });

      it('enrols through its enrol capability and becomes usable at its level, not above', async () => {
        const factor = factorOf();
        const account = newAccount();
        await enrolled(account);
        expect(await factor.isEnrolled(account.id)).to.equal(true);
        expect(await bed.registry.usableFactors(account.id, factor.level)).to.include(factor);
        expect(await bed.registry.usableFactors(account.id, factor.level + 1)).to.not.include(factor);
      });

      it('verifies a valid input and reports its own id, amr and level', async () => {
        const factor = factorOf();
        const account = newAccount();
        const user = await enrolled(account);
        const result = await factor.verify(account.id, await user.validInput());
        expect(result).to.include({ ok: true, factorId: factor.id, level: factor.level });
        expect(result).to.have.deep.property('amr', factor.amr);
      });

      it('accepts an input only once', async () => {
        const factor = factorOf();
        const account = newAccount();
        const user = await enrolled(account);
        const input = await user.validInput();
        expect(await factor.verify(account.id, input)).to.include({ ok: true });
        const again = await factor.verify(account.id, input);
        expect(again.ok).to.equal(false);
        expect(['code_replayed', 'invalid_code']).to.include(again.ok ? '' : again.code);
      });

      it('answers hostile input with invalid_code and never throws', async () => {
        const factor = factorOf();
        const account = newAccount();
        await enrolled(account);
        const hostile: unknown[] = [undefined, null, 0, 123456, true, {}, [], ['123456'], { $gt: '' }, '', ' ', '\u0000',
          '../../etc/passwd', 'x'.repeat(2_000_000), '١٢٣٤٥٦'];
        for (const input of hostile) {
          const result = await factor.verify(account.id, input);
          expect(result, String(input).slice(0, 20)).to.deep.include({ ok: false, code: 'invalid_code' });
          await resetAttempts(bed.conn, account.id); // each input checked, none refused as locked
        }
      });

      it('counts wrong inputs against the attempt budget and then refuses as locked', async () => {
        const factor = factorOf();
        const account = newAccount();
        const user = await enrolled(account);
        const codes: string[] = [];
        for (let i = 0; i < 6; i += 1) {
          const result = await factor.verify(account.id, await user.wrongInput());
          codes.push(result.ok ? 'ok' : result.code);
        }
        expect(codes).to.deep.equal(['invalid_code', 'invalid_code', 'invalid_code', 'invalid_code', 'invalid_code', 'locked']);
      });

      it('refuses to start over an active enrolment without replace', async () => {
        const factor = factorOf();
        const account = newAccount();
        await enrolled(account);
        if (!factor.enrol) return;
        expect(await factor.enrol.begin(account)).to.deep.equal({ ok: false, code: 'already_enrolled' });
        expect(await factor.isEnrolled(account.id)).to.equal(true);
      });

      it('is removed idempotently, and a removed factor refuses its old input as not_enrolled', async () => {
        const factor = factorOf();
        const account = newAccount();
        const user = await enrolled(account);
        const input = await user.validInput();
        await factor.remove(account.id);
        await factor.remove(account.id);
        expect(await factor.isEnrolled(account.id)).to.equal(false);
        expect(await factor.verify(account.id, input)).to.deep.equal({ ok: false, code: 'not_enrolled' });
      });
    });
  }
});
