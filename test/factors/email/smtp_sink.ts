/**
 * A real delivery path for email-code tests: an in-process `smtp-server` receives the mail, `mailparser` reads it,
 * and the factor's `CodeMailer` port is implemented over nodemailer's SMTP transport (the lead wires the real mail
 * layer into the same port). Only `Date` is ever faked in these tests, so the sockets' timers keep running.
 */
import { createServer, type AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import nodemailer, { type Transporter } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import type { CodeMailer } from '../../../src/factors/email/factor.ts';

export interface ReceivedMail {
  readonly to: string[];
  readonly subject: string;
  readonly text: string;
}

export interface SmtpSink {
  readonly port: number;
  readonly received: ReceivedMail[];
  /** The mails received for `address`, oldest first. */
  mailsTo(address: string): ReceivedMail[];
  /** The 6-digit code of the newest mail to `address` (throws when there is none). */
  latestCode(address: string): string;
  close(): Promise<void>;
}

/** Starts an SMTP server on a free local port that keeps every message it accepts. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream).then((parsed) => {
        const to = (Array.isArray(parsed.to) ? parsed.to : parsed.to ? [parsed.to] : [])
          .flatMap((address) => address.value.map((entry) => entry.address ?? ''));
        received.push({ to, subject: parsed.subject ?? '', text: parsed.text ?? '' });
        callback();
      }, (err: Error) => callback(err));
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  const mailsTo = (address: string): ReceivedMail[] => received.filter((mail) => mail.to.includes(address));
  return {
    port,
    received,
    mailsTo,
    latestCode(address: string): string {
      const mail = mailsTo(address).at(-1);
      const code = mail ? /\b(\d{6})\b/.exec(mail.text)?.[1] : undefined;
      if (!code) throw new Error(`no code mail to ${address}`);
      return code;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A local port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A mailer over SMTP, plus the codes it was asked to send (to prove an undelivered code is not usable). */
export interface SmtpCodeMailer extends CodeMailer {
  /** Every code handed to `sendCode`, delivered or not, newest last. */
  readonly attempted: string[];
  /** Points the transport at another port (e.g. a closed one: "SMTP unreachable"). */
  usePort(port: number): void;
  close(): void;
}

/** The `CodeMailer` port over nodemailer's SMTP transport to `127.0.0.1:port`. */
export function smtpCodeMailer(port: number): SmtpCodeMailer {
  const attempted: string[] = [];
  const transportFor = (target: number): Transporter => nodemailer.createTransport({
    host: '127.0.0.1',
    port: target,
    secure: false,
    ignoreTLS: true,
    connectionTimeout: 3000,
    greetingTimeout: 3000,
    socketTimeout: 3000,
  });
  let transport = transportFor(port);
  return {
    attempted,
    usePort(target: number) {
      transport.close();
      transport = transportFor(target);
    },
    close() {
      transport.close();
    },
    async sendCode(to, code, validMinutes) {
      attempted.push(code);
      try {
        await transport.sendMail({
          from: 'Keys Express <no-reply@keys.example>',
          to: to.name ? { name: to.name, address: to.email } : to.email,
          subject: 'Your sign-in code',
          text: `Your code is ${code}. It is valid for ${validMinutes} minutes.`,
          html: `<p>Your code is <strong>${code}</strong>. It is valid for ${validMinutes} minutes.</p>`,
        });
        return { ok: true };
      } catch {
        return { ok: false, code: 'mail_failed' };
      }
    },
  };
}
