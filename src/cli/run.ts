/**
 * The operators' CLI: `npm run cli -- <group> <command> [options]`. Arguments are parsed and checked before any
 * database is touched; exit codes: 0 done, 1 a domain or database failure (message only), 2 bad arguments,
 * 130 aborted at the password prompt.
 */
import { AppError } from '../shared/errors.ts';
import { clientAdd, clientList } from './commands/client.ts';
import { clientRemove, clientRotateSecret, clientShow, clientUpdate } from './commands/client_manage.ts';
import { companyAdd, companyList, companyPolicy } from './commands/company.ts';
import {
  userAdd,
  userDisable,
  userEnable,
  userGrantInvoice,
  userList,
  userResetFactors,
  userRevokeInvoice,
  userSetPassword,
  userUnlock,
} from './commands/user.ts';
import { keysGenerate } from './commands/keys.ts';
import type { Config } from '../config/index.ts';
import { readCliConfig } from './config.ts';
import { connectDatabase, resolveDatabase } from './database.ts';
import { CliFailure, UsageError, type CliIo, type CommandSpec } from './io.ts';

export type { CliIo } from './io.ts';

export const COMMANDS: readonly CommandSpec[] = [
  userAdd,
  userList,
  userGrantInvoice,
  userRevokeInvoice,
  userSetPassword,
  userDisable,
  userEnable,
  userResetFactors,
  userUnlock,
  companyAdd,
  companyList,
  companyPolicy,
  clientAdd,
  clientList,
  clientShow,
  clientUpdate,
  clientRotateSecret,
  clientRemove,
  keysGenerate,
];

const PROGRAM = 'npm run cli --';

/** The full help text: every command's usage and what it does. */
export function usageText(): string {
  const lines = [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Commands:',
    ...COMMANDS.flatMap((command) => [`  ${command.usage}`, `      ${command.summary}`]),
    '  help',
    '      show this help (also: <command> --help)',
    '',
    'Database: MONGODB_URI when set, otherwise the embedded database of a running dev server (npm start),',
    'found through ${DATA_DIR:-.data}/embedded-mongo.uri.',
    'A password given with --password is visible in the process list and shell history: prefer the prompt',
    'or --password-stdin.',
    'Redirect URIs: absolute; https, or http only on localhost, 127.0.0.1 or [::1]; no fragment. Client changes count',
    'on every running server from its next request on (each request reads its client); a new client is found at once.',
    'user reset-factors and user unlock act like the server: run them with its environment (FACTOR_KEYS, MFA_PEPPER,',
    'COOKIE_KEYS, SMTP_URL, MAIL_FROM, ISSUER_NAME, AUDIT_RETENTION_DAYS). Without SMTP_URL the customer is not emailed.',
  ];
  return lines.join('\n');
}

function findCommand(argv: string[]): { spec: CommandSpec; args: string[] } | null {
  for (const spec of COMMANDS) {
    const words = spec.name.split(' ');
    if (words.every((word, i) => argv[i] === word)) return { spec, args: argv.slice(words.length) };
  }
  return null;
}

function unknownCommand(argv: string[]): UsageError {
  const group = argv[0] ?? '';
  const known = COMMANDS.filter((spec) => spec.name.startsWith(`${group} `));
  if (known.length > 0) {
    const what = argv[1] === undefined ? `"${group}" needs a command` : `unknown command "${group} ${argv[1]}"`;
    return new UsageError(`${what}; one of: ${known.map((spec) => spec.name).join(', ')}`);
  }
  return new UsageError(`unknown command "${group}"`);
}

/**
 * Runs one CLI command and answers its exit code. Never throws for expected failures: usage errors print the
 * message and a usage hint on stderr (exit 2), domain and database failures print their message (exit 1).
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const println = (stream: CliIo['stdout'], line = ''): void => {
    stream.write(`${line}\n`);
  };
  const first = argv[0];
  if (first === 'help' || first === '--help' || first === '-h') {
    println(io.stdout, usageText());
    return 0;
  }
  if (first === undefined) {
    println(io.stderr, usageText());
    return 2;
  }

  try {
    const found = findCommand(argv);
    if (!found) throw unknownCommand(argv);
    const prepared = await found.spec.parse(found.args, io);
    if ('help' in prepared) {
      println(io.stdout, `Usage: ${PROGRAM} ${prepared.help}\n  ${found.spec.summary}${found.spec.details ? `\n\n${found.spec.details}` : ''}`);
      return 0;
    }
    const print = (line?: string): void => println(io.stdout, line);
    let config: Config | undefined;
    const loadConfig = (): Config => (config ??= readCliConfig(io.env));
    if ('offline' in prepared) {
      await prepared.run({ io, print, config: loadConfig });
      return 0;
    }
    const target = await resolveDatabase(io.env, io.cwd ?? process.cwd());
    const conn = await connectDatabase(target);
    try {
      await prepared.run({ io, conn, print, config: loadConfig });
    } finally {
      await conn.close();
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      println(io.stderr, `Error: ${err.message}`);
      println(io.stderr, err.usage ? `Usage: ${PROGRAM} ${err.usage}` : `Run "${PROGRAM} help" for the commands.`);
      return 2;
    }
    if (err instanceof CliFailure) {
      println(io.stderr, `Error: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof AppError && err.expose) {
      println(io.stderr, `Error: ${err.message}`);
      return 1;
    }
    println(io.stderr, `Unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  }
}
