/**
 * Test bed of the mail tests: a real SMTP server in process (`smtp-server` on 127.0.0.1, any free port, no TLS),
 * every received message parsed by `mailparser`, a logger that keeps its entries, and a port nobody listens on.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import type { MailLogger } from '../../src/mail/transport.ts';

/** A received message: the parsed mail plus the SMTP envelope and whether the session authenticated. */
export interface ReceivedMail {
  readonly parsed: ParsedMail;
  readonly raw: string;
  readonly envelopeTo: string[];
  readonly user: string | undefined;
}

export interface TestSmtp {
  readonly port: number;
  readonly url: string;
  readonly received: ReceivedMail[];
  /** Resolves with the next message (or the `count`-th from now). */
  next(): Promise<ReceivedMail>;
  close(): Promise<void>;
}

/**
 * Starts an SMTP server; with `auth` it requires that user and password (PLAIN/LOGIN over plain TCP, tests only).
 * With `hold`, each message is accepted only once the promise it returns resolves (a slow mail server).
 */
export async function startSmtp(options: { auth?: { user: string; pass: string }; hold?: () => Promise<void> } = {}): Promise<TestSmtp> {
  const received: ReceivedMail[] = [];
  const waiting: Array<(mail: ReceivedMail) => void> = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: options.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    allowInsecureAuth: true,
    authOptional: !options.auth,
    logger: false,
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username });
      } else {
        callback(new Error('Invalid username or password'));
      }
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        (options.hold ? options.hold() : Promise.resolve()).then(() => simpleParser(raw)).then((parsed) => {
          const mail: ReceivedMail = {
            parsed,
            raw,
            envelopeTo: session.envelope.rcptTo.map((r) => r.address),
            user: typeof session.user === 'string' ? session.user : undefined,
          };
          received.push(mail);
          const waiter = waiting.shift();
          if (waiter) waiter(mail);
          callback();
        }, (err: unknown) => callback(err as Error));
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  let seen = 0;
  return {
    port,
    url: options.auth
      ? `smtp://${encodeURIComponent(options.auth.user)}:${encodeURIComponent(options.auth.pass)}@127.0.0.1:${port}`
      : `smtp://127.0.0.1:${port}`,
    received,
    next() {
      const index = seen;
      seen += 1;
      const ready = received[index];
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve) => waiting.push(resolve));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A TCP port with nothing listening on it (bound once, then released). */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A TCP server that accepts connections and never says a word (an SMTP server stuck before its greeting). */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

export interface LogEntry {
  readonly level: 'info' | 'warn' | 'error';
  readonly obj: object;
  readonly msg: string;
}

/** A pino-like logger that keeps every entry; `text()` is everything it was told, for "never logged" checks. */
export function captureLogger(): MailLogger & { entries: LogEntry[]; text(): string } {
  const entries: LogEntry[] = [];
  return {
    entries,
    info: (obj, msg) => void entries.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => void entries.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void entries.push({ level: 'error', obj, msg }),
    text: () => JSON.stringify(entries),
  };
}

/** How often `needle` occurs in `haystack`. */
export function occurrences(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}
