/** What the CLI touches of the outside world, passed in so tests can run it in process. */
import type { Connection } from 'mongoose';
import type { Config } from '../config/index.ts';

export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  /** Read for `--password-stdin`, or for the hidden prompt when it is a terminal. */
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  env: Readonly<Record<string, string | undefined>>;
  /** Directory `DATA_DIR` is resolved against; default the process's working directory. */
  cwd?: string;
}

/** Bad arguments: the message, a usage hint, exit code 2. */
export class UsageError extends Error {
  constructor(message: string, readonly usage?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An expected failure with a message for the operator (no stack trace), exit code 1 unless told. */
export class CliFailure extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliFailure';
  }
}

export interface CommandContext {
  io: CliIo;
  conn: Connection;
  /** Writes one line to stdout. */
  print(line?: string): void;
  /**
   * The server's configuration read from the CLI's environment (`loadConfig`), loaded on first use so that commands
   * that need none do not fail on an unrelated setting; a broken configuration is a `CliFailure` listing every problem.
   */
  config(): Config;
}

/** A command whose arguments are parsed and checked; running it needs the database. */
export interface PreparedCommand {
  run(ctx: CommandContext): Promise<void>;
}

export type OfflineContext = Omit<CommandContext, 'conn'>;

/** A command that needs no database (e.g. generating keys). */
export interface OfflineCommand {
  offline: true;
  run(ctx: OfflineContext): Promise<void>;
}

/** A command's arguments were `--help`: print its usage, touch nothing. */
export interface HelpRequest {
  help: string;
}

export type ParsedCommand = PreparedCommand | OfflineCommand | HelpRequest;

export interface CommandSpec {
  /** `user add`, `client list`, … */
  name: string;
  /** Usage lines, shown by `help` and after a usage error. */
  usage: string;
  summary: string;
  /** More help, shown by `<command> --help` after the usage and summary: options, rules. */
  details?: string;
  /**
   * Parses and validates the arguments after the command name (reading a file an argument names, if any); throws
   * UsageError. Touches no database.
   */
  parse(args: string[], io: CliIo): ParsedCommand | Promise<ParsedCommand>;
}
