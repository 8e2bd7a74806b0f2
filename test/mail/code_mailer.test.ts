import { expect } from 'chai';
import type { CodeMailer } from '../../src/factors/email/factor.ts';
import { createCodeMailer } from '../../src/mail/code_mailer.ts';
import { createMailer } from '../../src/mail/transport.ts';
import { captureLogger, closedPort, occurrences, startSmtp } from './support.ts';

const ISSUER = 'Keys Express';

describe('the email-code factor\'s mailer', () => {
  it('delivers the code through SMTP, once in each part, to the account\'s address and name', async () => {
    const smtp = await startSmtp();
    const mailer = createMailer({ smtpUrl: smtp.url, from: 'no-reply@keys.example', issuerName: ISSUER, production: true });
    try {
      // the factor's own port type: the mail layer must keep fitting it
      const codeMailer: CodeMailer = createCodeMailer({ mailer, issuerName: ISSUER });
      expect(await codeMailer.sendCode({ email: 'max@example.com', name: 'Max' }, '918273', 10)).to.deep.equal({ ok: true });
      const { parsed, envelopeTo } = await smtp.next();
      expect(envelopeTo).to.deep.equal(['max@example.com']);
      expect(parsed.subject).to.equal('Your Keys Express authentication code');
      expect(occurrences(String(parsed.text), '918273')).to.equal(1);
      expect(occurrences(String(parsed.html), '918273')).to.equal(1);
      expect(String(parsed.text)).to.include('Hello Max,').and.include('valid for 10 minutes');
    } finally {
      await mailer.close();
      await smtp.close();
    }
  });

  it('an unreachable server is mail_failed, not a throw, and the code is in no log line', async () => {
    const logger = captureLogger();
    const mailer = createMailer({ smtpUrl: `smtp://127.0.0.1:${await closedPort()}`, from: 'no-reply@keys.example', issuerName: ISSUER, production: true, logger });
    try {
      const codeMailer = createCodeMailer({ mailer, issuerName: ISSUER, logger });
      expect(await codeMailer.sendCode({ email: 'max@example.com' }, '918273', 10)).to.deep.equal({ ok: false, code: 'mail_failed' });
      expect(logger.entries).to.have.length(1);
      expect(logger.text()).to.not.include('918273');
    } finally {
      await mailer.close();
    }
  });

  it('a malformed code is mail_failed and its value is not logged', async () => {
    const logger = captureLogger();
    const mailer = createMailer({ from: 'no-reply@keys.example', issuerName: ISSUER, production: false });
    const codeMailer = createCodeMailer({ mailer, issuerName: ISSUER, logger });
    expect(await codeMailer.sendCode({ email: 'max@example.com' }, 'x91827x', 10)).to.deep.equal({ ok: false, code: 'mail_failed' });
    expect(mailer.outbox()).to.have.length(0);
    expect(logger.text()).to.not.include('91827');
  });
});
