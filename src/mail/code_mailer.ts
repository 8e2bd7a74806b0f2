/**
 * The email-code factor's delivery port (`CodeMailer` in `factors/email/factor.ts`) on top of the mail layer:
 * renders the code mail and sends it. The factor never sees templates or SMTP, and this module never sees a factor
 * (the shapes match structurally; the composition root passes one to the other).
 */
import type { Languages } from '../i18n/languages.ts';
import { defaultMailLanguages, mailWords, renderEmailCode, type EmailCodePurpose, type MailLook } from './templates.ts';
import type { MailLogger, Mailer } from './transport.ts';

export interface CodeMailerDeps {
  readonly mailer: Mailer;
  /** The provider's name as customers know it. */
  readonly issuerName: string;
  /** Wording of the mail; default `confirm`, which fits sign-in challenges and enrolment alike. */
  readonly purpose?: EmailCodePurpose | undefined;
  /** Where rendering failures are logged (send failures are logged by the mailer). */
  readonly logger?: MailLogger | undefined;
  /** The shop's logo, colour and support in the mail. */
  readonly look?: MailLook | undefined;
  /** The deployment's catalogues (`views.languages`); default the package's, English by default. */
  readonly languages?: Languages | undefined;
}

/** Where a code goes: the address, the name of the greeting, the mail's language (the account's, else the page's). */
export interface CodeRecipient {
  readonly email: string;
  readonly name?: string | undefined;
  /** A language of the catalogues (`de`); the deployment's default language when absent or unknown. */
  readonly language?: string | undefined;
}

/** Sends one-time codes by email. Never throws and never logs the code: any failure is `mail_failed`. */
export interface EmailCodeSender {
  sendCode(to: CodeRecipient, code: string, validMinutes: number): Promise<{ ok: true } | { ok: false; code: 'mail_failed' }>;
}

export function createCodeMailer(deps: CodeMailerDeps): EmailCodeSender {
  const languages = deps.languages ?? defaultMailLanguages();
  return {
    async sendCode(to, code, validMinutes) {
      try {
        const words = mailWords(languages, { language: to.language });
        const mail = renderEmailCode({ issuerName: deps.issuerName, name: to.name, code, validMinutes, purpose: deps.purpose, look: deps.look }, words);
        const sent = await deps.mailer.send({ to: to.email, ...mail });
        return sent.ok ? { ok: true } : { ok: false, code: 'mail_failed' };
      } catch (err) {
        // a programmer error (a malformed code): the message may quote the input, so only its type is logged
        deps.logger?.error({ err: err instanceof Error ? err.name : typeof err }, 'email code mail could not be rendered');
        return { ok: false, code: 'mail_failed' };
      }
    },
  };
}
