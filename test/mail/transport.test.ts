import { expect } from 'chai';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { AppError } from '../../src/shared/errors.ts';
import { renderEmailCode } from '../../src/mail/templates.ts';
import { english } from '../helpers/words.ts';
import { DEFAULT_OUTBOX_SIZE, createMailer, type Mailer } from '../../src/mail/transport.ts';
import { MAIL_REQUIRED_IN_PRODUCTION, parseSmtpUrl } from '../../src/config/mail_settings.ts';
import { captureLogger, closedPort, occurrences, silentServer, startSmtp, type TestSmtp } from './support.ts';

const ISSUER = 'Keys Express';
const FROM = 'no-reply@keys.example';
const CODE = '402917';

function codeMail(code = CODE) {
  return renderEmailCode({ issuerName: ISSUER, code, validMinutes: 10, name: 'Max Muster', purpose: 'sign_in' }, english);
}

describe('mail transport: SMTP delivery', () => {
  let smtp: TestSmtp;
  let mailer: Mailer;

  before(async () => {
    smtp = await startSmtp();
    mailer = createMailer({ smtpUrl: smtp.url, from: FROM, issuerName: ISSUER, production: true });
  });
  after(async () => {
    await mailer.close();
    await smtp.close();
  });

  it('delivers the code mail to a real SMTP server with subject, sender, recipient and both parts', async () => {
    const mail = codeMail();
    const result = await mailer.send({ to: 'max@example.com', ...mail });
    expect(result.ok).to.equal(true);
    const { parsed, envelopeTo } = await smtp.next();
    expect(envelopeTo).to.deep.equal(['max@example.com']);
    expect(parsed.subject).to.equal(`Your ${ISSUER} sign-in code`);
    expect(parsed.from?.value).to.deep.equal([{ address: FROM, name: ISSUER }]);
    const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
    expect(to?.value.map((a) => a.address)).to.deep.equal(['max@example.com']);
    expect(parsed.text).to.be.a('string').and.include('Max Muster');
    expect(parsed.html).to.be.a('string').and.include('<html');
    if (result.ok) expect(parsed.messageId).to.equal(result.messageId);
    expect(parsed.headers.get('auto-submitted')).to.equal('auto-generated');
  });

  it('puts the code exactly once in each part and never in the subject', async () => {
    await mailer.send({ to: 'max@example.com', ...codeMail('739164') });
    const { parsed } = await smtp.next();
    expect(occurrences(String(parsed.text), '739164')).to.equal(1);
    expect(occurrences(String(parsed.html), '739164')).to.equal(1);
    expect(parsed.subject).to.not.include('739164');
  });

  it('loads nothing: no images, no external links, no tracking in either part', async () => {
    await mailer.send({ to: 'max@example.com', ...codeMail() });
    const { parsed, raw } = await smtp.next();
    const html = String(parsed.html);
    expect(html).to.not.match(/<img/i);
    expect(html).to.not.match(/url\(/i);
    expect(html).to.not.match(/https?:/i);
    expect(String(parsed.text)).to.not.match(/https?:/i);
    expect(parsed.attachments).to.have.length(0);
    expect(raw).to.not.match(/https?:\/\//i);
  });

  it('refuses a recipient that is not one plain address (no header injection), without throwing', async () => {
    const before = smtp.received.length;
    for (const to of ['max@example.com\r\nBcc: eve@evil.example', 'max@example.com, eve@evil.example', 'Max <max@example.com>', 'not-an-address']) {
      expect(await mailer.send({ to, ...codeMail() })).to.deep.equal({ ok: false, code: 'mail_failed' });
    }
    expect(smtp.received.length).to.equal(before);
  });
});

describe('mail transport: SMTP authentication', () => {
  const auth = { user: 'mailer@keys.example', pass: 'p@ss:w/rd%' };
  let smtp: TestSmtp;

  before(async () => {
    smtp = await startSmtp({ auth });
  });
  after(async () => smtp.close());

  it('logs in with the percent-decoded user and password from the URL', async () => {
    const mailer = createMailer({ smtpUrl: smtp.url, from: FROM, issuerName: ISSUER, production: false });
    try {
      expect((await mailer.send({ to: 'max@example.com', ...codeMail() })).ok).to.equal(true);
      const { user } = await smtp.next();
      expect(user).to.equal(auth.user);
    } finally {
      await mailer.close();
    }
  });

  it('a wrong password is a mail_failed value and a log entry without the password', async () => {
    const logger = captureLogger();
    const url = `smtp://${encodeURIComponent(auth.user)}:wrong-secret@127.0.0.1:${smtp.port}`;
    const mailer = createMailer({ smtpUrl: url, from: FROM, issuerName: ISSUER, production: false, logger });
    try {
      expect(await mailer.send({ to: 'max@example.com', ...codeMail() })).to.deep.equal({ ok: false, code: 'mail_failed' });
      expect(logger.entries.filter((e) => e.level === 'error')).to.have.length(1);
      expect(logger.text()).to.not.include('wrong-secret');
      expect(logger.text()).to.not.include(CODE);
    } finally {
      await mailer.close();
    }
  });
});

describe('mail transport: failures never throw', () => {
  it('an unreachable SMTP server gives { ok: false, code: "mail_failed" } and one log entry without the body', async () => {
    const logger = captureLogger();
    const port = await closedPort();
    const mailer = createMailer({ smtpUrl: `smtp://127.0.0.1:${port}`, from: FROM, issuerName: ISSUER, production: true, logger });
    const mail = codeMail();
    const result = await mailer.send({ to: 'max@example.com', ...mail });
    await mailer.close();
    expect(result).to.deep.equal({ ok: false, code: 'mail_failed' });
    const errors = logger.entries.filter((e) => e.level === 'error');
    expect(errors).to.have.length(1);
    const logged = logger.text();
    expect(logged).to.include('m•••@example.com');
    expect(logged).to.include('ECONNREFUSED');
    expect(logged).to.not.include(CODE);
    expect(logged).to.not.include('max@example.com');
    expect(logged).to.not.include('valid for 10 minutes');
  });

  it('a server that never greets fails after the configured greeting timeout, not after minutes', async () => {
    const silent = await silentServer();
    const mailer = createMailer({
      smtpUrl: `smtp://127.0.0.1:${silent.port}`, from: FROM, issuerName: ISSUER, production: true,
      timeouts: { greetingMs: 300, socketMs: 300 },
    });
    const started = Date.now();
    try {
      expect(await mailer.send({ to: 'max@example.com', ...codeMail() })).to.deep.equal({ ok: false, code: 'mail_failed' });
      expect(Date.now() - started).to.be.below(5_000);
    } finally {
      await mailer.close();
      await silent.close();
    }
  });
});

describe('mail transport: dev outbox', () => {
  it('captures messages in process, newest first, with sender and time', async () => {
    const now = new Date('2026-11-25T19:20:00Z');
    const mailer = createMailer({ from: FROM, issuerName: ISSUER, production: false, now: () => now });
    expect(mailer.mode).to.equal('outbox');
    for (const subject of ['first', 'second', 'third']) {
      expect((await mailer.send({ to: 'max@example.com', subject, text: 't', html: '<p>h</p>' })).ok).to.equal(true);
    }
    const outbox = mailer.outbox() ?? [];
    expect(outbox.map((m) => m.subject)).to.deep.equal(['third', 'second', 'first']);
    expect(outbox[0]).to.include({ to: 'max@example.com', text: 't', html: '<p>h</p>', from: `"${ISSUER}" <${FROM}>` });
    expect(outbox[0]?.sentAt.toISOString()).to.equal(now.toISOString());
    expect(new Set(outbox.map((m) => m.messageId)).size).to.equal(3);
  });

  it(`keeps only the most recent ${DEFAULT_OUTBOX_SIZE} messages by default`, async () => {
    const mailer = createMailer({ from: FROM, issuerName: ISSUER, production: false });
    for (let i = 1; i <= DEFAULT_OUTBOX_SIZE + 5; i += 1) await mailer.send({ to: 'max@example.com', subject: `n${i}`, text: 't', html: 'h' });
    const outbox = mailer.outbox() ?? [];
    expect(outbox).to.have.length(DEFAULT_OUTBOX_SIZE);
    expect(outbox[0]?.subject).to.equal(`n${DEFAULT_OUTBOX_SIZE + 5}`);
    expect(outbox.at(-1)?.subject).to.equal('n6');
  });

  it('honours a smaller outbox size and hands out copies', async () => {
    const mailer = createMailer({ from: FROM, issuerName: ISSUER, production: false, outboxSize: 2 });
    for (const subject of ['a', 'b', 'c']) await mailer.send({ to: 'max@example.com', subject, text: 't', html: 'h' });
    const copy = mailer.outbox() as unknown as unknown[];
    copy.length = 0;
    expect((mailer.outbox() ?? []).map((m) => m.subject)).to.deep.equal(['c', 'b']);
  });

  it('logs one line per message saying where to read it, with a masked address and never the code', async () => {
    const logger = captureLogger();
    const mailer = createMailer({ from: FROM, issuerName: ISSUER, production: false, logger });
    const mail = codeMail();
    await mailer.send({ to: 'max@example.com', ...mail });
    expect(logger.entries).to.have.length(1);
    expect(logger.entries[0]?.msg).to.equal(`mail to m•••@example.com: ${mail.subject}; read it at /dev/mail`);
    expect(logger.text()).to.not.include(CODE);
    expect(logger.text()).to.not.include('max@example.com');
    expect(mailer.outbox()?.[0]?.text).to.include(CODE);
  });

  it('works with the app\'s pino logger, whose JSON lines carry no code', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } });
    const mailer = createMailer({ from: FROM, issuerName: ISSUER, production: false, logger: pino({ level: 'info' }, sink), outboxPath: '/dev/outbox' });
    await mailer.send({ to: 'max@example.com', ...codeMail() });
    expect(lines).to.have.length(1);
    const line = JSON.parse(lines[0] ?? '{}') as { msg?: string; to?: string };
    expect(line.msg).to.match(/read it at \/dev\/outbox$/);
    expect(line.to).to.equal('m•••@example.com');
    expect(lines.join('')).to.not.include(CODE);
  });

  it('an SMTP mailer has no outbox (the dev page has nothing to show)', async () => {
    const mailer = createMailer({ smtpUrl: 'smtp://127.0.0.1:2525', from: FROM, issuerName: ISSUER, production: false });
    expect(mailer.mode).to.equal('smtp');
    expect(mailer.outbox()).to.equal(undefined);
    await mailer.close();
    await mailer.close();
  });
});

describe('mail transport: configuration', () => {
  it('production without an SMTP URL throws a clear AppError', () => {
    for (const smtpUrl of [undefined, '', '   ']) {
      let error: unknown;
      try {
        createMailer({ smtpUrl, from: FROM, issuerName: ISSUER, production: true });
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(AppError);
      expect((error as AppError).code).to.equal('mail_not_configured');
      expect((error as AppError).message).to.equal(MAIL_REQUIRED_IN_PRODUCTION);
    }
    expect(MAIL_REQUIRED_IN_PRODUCTION).to.match(/^SMTP_URL is required when NODE_ENV=production/);
  });

  it('an invalid SMTP URL throws with every problem listed and without the password', () => {
    let error: unknown;
    try {
      createMailer({ smtpUrl: 'imap://user:hunter2secret@mail.example:99999', from: FROM, issuerName: ISSUER, production: false });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(AppError);
    expect((error as AppError).code).to.equal('invalid_smtp_url');
    expect((error as AppError).message).to.include('scheme').and.include('port').and.not.include('hunter2secret');
  });

  it('warns in production when credentials could travel unencrypted, without quoting them', async () => {
    const logger = captureLogger();
    const plain = createMailer({ smtpUrl: 'smtp://mailer:t0ps3cret@127.0.0.1:2525', from: FROM, issuerName: ISSUER, production: true, logger });
    const tls = createMailer({ smtpUrl: 'smtp://mailer:t0ps3cret@127.0.0.1:2525?requireTLS=true', from: FROM, issuerName: ISSUER, production: true, logger });
    await plain.close();
    await tls.close();
    expect(logger.entries.map((e) => e.level)).to.deep.equal(['warn']);
    expect(logger.entries[0]?.msg).to.include('requireTLS=true');
    expect(logger.text()).to.not.include('t0ps3cret');
  });

  it('a sender that is not an address is refused at creation', () => {
    expect(() => createMailer({ from: 'nobody', issuerName: ISSUER, production: false })).to.throw(AppError, /sender/);
  });

  it('a named sender is kept as given', async () => {
    const mailer = createMailer({ from: 'Keys Support <help@keys.example>', issuerName: ISSUER, production: false });
    await mailer.send({ to: 'max@example.com', subject: 's', text: 't', html: 'h' });
    expect(mailer.outbox()?.[0]?.from).to.equal('Keys Support <help@keys.example>');
  });
});

describe('parseSmtpUrl', () => {
  it('accepts smtp:// and smtps:// with default ports and decoded credentials', () => {
    expect(parseSmtpUrl('smtp://mail.example')).to.deep.equal({
      problems: [], settings: { host: 'mail.example', port: 587, secure: false, requireTLS: false },
    });
    expect(parseSmtpUrl('smtps://u%40x:p%3Aw@mail.example')).to.deep.equal({
      problems: [], settings: { host: 'mail.example', port: 465, secure: true, requireTLS: false, auth: { user: 'u@x', pass: 'p:w' } },
    });
    expect(parseSmtpUrl('SMTP://mailpit:1025?requireTLS=true').settings).to.deep.equal({ host: 'mailpit', port: 1025, secure: false, requireTLS: true });
    expect(parseSmtpUrl('smtp://[::1]:2525').settings).to.deep.equal({ host: '::1', port: 2525, secure: false, requireTLS: false });
  });

  it('lists a bad scheme', () => {
    expect(parseSmtpUrl('http://mail.example:25').problems).to.deep.equal(['scheme must be smtp:// or smtps:// (got http://)']);
    expect(parseSmtpUrl('mail.example:25').problems).to.have.length(1).and.match(/must be a URL like smtp:\/\//);
  });

  it('lists a missing host', () => {
    expect(parseSmtpUrl('smtp://').problems).to.deep.equal(['host is missing (e.g. smtp://smtp.example.com:587)']);
    expect(parseSmtpUrl('smtp://user:pass@:25').problems).to.deep.equal(['host is missing (e.g. smtp://smtp.example.com:587)']);
  });

  it('lists a bad port', () => {
    for (const url of ['smtp://mail.example:99999', 'smtp://mail.example:0', 'smtp://mail.example:abc', 'smtp://mail.example:25x']) {
      expect(parseSmtpUrl(url).problems, url).to.deep.equal(['port must be a number from 1 to 65535']);
    }
  });

  it('lists every problem at once', () => {
    const { problems, settings } = parseSmtpUrl('pop3://:0');
    expect(settings).to.equal(undefined);
    expect(problems).to.have.length(3);
    expect(problems.join('\n')).to.include('scheme').and.include('port').and.include('host');
  });

  it('lists paths, unknown options, half credentials and contradictory TLS options', () => {
    expect(parseSmtpUrl('smtp://mail.example/inbox').problems).to.deep.equal(['must not have a path (only smtp://user:pass@host:port)']);
    expect(parseSmtpUrl('smtp://mail.example?tls.rejectUnauthorized=false').problems[0]).to.match(/unknown option "tls.rejectUnauthorized"/);
    expect(parseSmtpUrl('smtp://user@mail.example').problems).to.deep.equal(['a user name needs a password (smtp://user:pass@host)']);
    expect(parseSmtpUrl('smtps://mail.example?requireTLS=true').problems[0]).to.match(/requireTLS applies to smtp:\/\//);
    expect(parseSmtpUrl('smtp://mail.example?requireTLS=maybe').problems).to.deep.equal(['requireTLS must be true or false']);
  });

  it('never quotes a password in a problem, even a misplaced one', () => {
    for (const url of ['smtp://user:s3cr/et@mail.example', 'ftp://user:s3cret@mail.example', 'smtp://user:s3cret@mail.example/x?y=1', 'smtp://us?er:s3cret@mail.example', 'smtp://user:s3cret#x@mail.example']) {
      const { problems } = parseSmtpUrl(url);
      expect(problems, url).to.not.have.length(0);
      expect(problems.join(' '), url).to.not.match(/s3cr/);
    }
  });
});
