/**
 * Set-up shared by the email-code tests: a fresh database with the built-in factors (the email factor included),
 * a real in-process SMTP server the codes travel through, and helpers to enrol and to fetch a code from the inbox.
 */
import type { FactorAccount } from '../../../src/factors/contract.ts';
import {
  EMAIL_CODE_FACTOR_ID, createEmailCodeFactor, type EmailCodeFactor, type EmailCodeFactorOptions,
} from '../../../src/factors/email/factor.ts';
import { createAttemptLimiter } from '../../../src/factors/shared/attempts.ts';
import { setUpFactors, type FactorBed } from '../support.ts';
import { smtpCodeMailer, startSmtpSink, type SmtpCodeMailer, type SmtpSink } from './smtp_sink.ts';

export interface EmailBed extends FactorBed {
  readonly sink: SmtpSink;
  readonly mailer: SmtpCodeMailer;
  /** The registered email-code factor. */
  readonly email: EmailCodeFactor;
  /**
   * Another instance of the factor over the same database (and, unless given, the same mailer) with its own options;
   * its limiter is a separate, generous bucket unless `attempts` is given (to test the per-code limits on their own).
   */
  variant(options?: Partial<Omit<EmailCodeFactorOptions, 'conn' | 'pepper'>>): EmailCodeFactor;
  close(): Promise<void>;
}

export async function setUpEmailBed(label: string): Promise<EmailBed> {
  const sink = await startSmtpSink();
  const mailer = smtpCodeMailer(sink.port);
  const bed = await setUpFactors(label, undefined, { codeMailer: mailer });
  const email = bed.registry.get(EMAIL_CODE_FACTOR_ID) as EmailCodeFactor | undefined;
  if (!email || !bed.emailPepper) throw new Error('the email-code factor is not registered');
  const pepper = bed.emailPepper;
  return {
    ...bed,
    sink,
    mailer,
    email,
    variant(options = {}) {
      return createEmailCodeFactor({
        attempts: createAttemptLimiter(bed.conn, { bucket: 'email_test', policy: { failuresPerLockout: 100 } }),
        codeMailer: mailer,
        ...options,
        conn: bed.conn,
        pepper,
      });
    },
    async close() {
      await bed.conn.close();
      mailer.close();
      await sink.close();
    },
  };
}

/** Enrols `account` in `factor` through its own enrolment, reading the code from the inbox. */
export async function enrolEmail(bed: EmailBed, account: FactorAccount, factor: EmailCodeFactor = bed.email): Promise<void> {
  const begun = await factor.enrol.begin(account);
  if (!begun.ok) throw new Error(`begin failed: ${begun.code}`);
  const confirmed = await factor.enrol.confirm(account.id, bed.sink.latestCode(account.email));
  if (!confirmed.ok) throw new Error(`confirm failed: ${confirmed.code}`);
}

/** Sends a sign-in code and returns it as the customer reads it in the mail. */
export async function sendAndRead(bed: EmailBed, account: FactorAccount, factor: EmailCodeFactor = bed.email): Promise<string> {
  const sent = await factor.challenge.send(account);
  if (!sent.ok) throw new Error(`send failed: ${sent.code}`);
  return bed.sink.latestCode(account.email);
}
