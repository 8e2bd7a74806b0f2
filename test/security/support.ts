/**
 * Shared set-up of the support-action tests (here and in test/cli): a code mailer that keeps the codes it "sends",
 * enrolment of every built-in factor through its own enrolment, and a second factor locked by real wrong codes.
 */
import { EMAIL_CODE_FACTOR_ID, type CodeMailer, type EmailCodeFactor } from '../../src/factors/email/factor.ts';
import type { FactorRegistry } from '../../src/factors/registry.ts';
import { RECOVERY_FACTOR_ID, type RecoveryFactor } from '../../src/factors/recovery/factor.ts';
import { TOTP_FACTOR_ID, type TotpFactor } from '../../src/factors/totp/factor.ts';
import { enrolTotp, wrongCode } from '../factors/support.ts';

/** A `CodeMailer` that delivers into memory: `latest(email)` is the last code sent to that address. */
export function memoryCodeMailer(): CodeMailer & { latest(email: string): string } {
  const codes = new Map<string, string>();
  return {
    async sendCode(to, code) {
      codes.set(to.email, code);
      return { ok: true };
    },
    latest(email) {
      const code = codes.get(email);
      if (code === undefined) throw new Error(`no code was sent to ${email}`);
      return code;
    },
  };
}

/** The built-in factors of a registry, by their exported ids (tests may name them; src callers may not). */
export function builtInFactors(registry: FactorRegistry): { totp: TotpFactor; email: EmailCodeFactor; recovery: RecoveryFactor } {
  const totp = registry.get(TOTP_FACTOR_ID) as TotpFactor | undefined;
  const email = registry.get(EMAIL_CODE_FACTOR_ID) as EmailCodeFactor | undefined;
  const recovery = registry.get(RECOVERY_FACTOR_ID) as RecoveryFactor | undefined;
  if (!totp || !email || !recovery) throw new Error('the registry lacks a built-in factor (is a codeMailer given?)');
  return { totp, email, recovery };
}

/** What an enrolled customer holds: the app's secret and the recovery codes (to prove none of it leaks). */
export interface EnrolledSecrets {
  readonly totpSecret: string;
  readonly emailCode: string;
  readonly recoveryCodes: string[];
}

/** Enrols the account in the authenticator app, email codes and recovery codes, each through its own enrolment. */
export async function enrolEveryFactor(
  registry: FactorRegistry,
  mailer: ReturnType<typeof memoryCodeMailer>,
  account: { id: string; email: string; name?: string },
): Promise<EnrolledSecrets> {
  const { totp, email, recovery } = builtInFactors(registry);
  const totpSecret = await enrolTotp(totp, account);
  const begun = await email.enrol.begin(account);
  if (!begun.ok) throw new Error(`email enrolment failed: ${begun.code}`);
  const emailCode = mailer.latest(account.email);
  const confirmed = await email.enrol.confirm(account.id, emailCode);
  if (!confirmed.ok) throw new Error(`email confirmation failed: ${confirmed.code}`);
  const recoveryCodes = await recovery.generate(account.id);
  return { totpSecret, emailCode, recoveryCodes };
}

/** Enters wrong app codes until the shared second-factor bucket locks (5 by default); returns the attempts made. */
export async function lockWithWrongCodes(totp: TotpFactor, accountId: string, secret: string): Promise<number> {
  for (let attempt = 1; attempt <= 20; attempt += 1) {
    const result = await totp.verify(accountId, await wrongCode(secret));
    if (!result.ok && (result.code === 'locked' || result.lock)) return attempt;
  }
  throw new Error('the second factor never locked');
}
