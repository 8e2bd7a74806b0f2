/**
 * MongoDB-style command errors. Every refusal carries the numeric `code` and `codeName` a real server would use
 * for the same situation, so the driver raises `MongoServerError` with the same `code` as on MongoDB.
 */
import { MingoError } from 'mingo/util';

/** The error codes this engine answers with (names as in MongoDB's `error_codes.yml`). */
export const ErrorCodes = {
  InternalError: 1,
  BadValue: 2,
  FailedToParse: 9,
  TypeMismatch: 14,
  IllegalOperation: 20,
  NamespaceNotFound: 26,
  IndexNotFound: 27,
  PathNotViable: 28,
  ConflictingUpdateOperators: 40,
  CursorNotFound: 43,
  NamespaceExists: 48,
  DollarPrefixedFieldName: 52,
  EmptyFieldName: 56,
  InvalidNamespace: 73,
  CommandNotFound: 59,
  ImmutableField: 66,
  CannotCreateIndex: 67,
  InvalidOptions: 72,
  IndexOptionsConflict: 85,
  IndexKeySpecsConflict: 86,
  OperationNotSupportedInTransaction: 263,
  InvalidPipelineOperator: 168,
  CannotIndexParallelArrays: 171,
  NotImplemented: 238,
  Unauthorized: 13,
  Location31250: 31250,
  Location31253: 31253,
  Location31254: 31254,
  UnknownField: 40415,
  UnrecognizedPipelineStage: 40324,
  UnsupportedOpQueryCommand: 352,
  BSONObjectTooLarge: 10334,
  DuplicateKey: 11000,
} as const;

export type ErrorCodeName = keyof typeof ErrorCodes;

/** Extra fields some errors carry on the wire (`keyPattern`/`keyValue` for duplicate keys). */
export type ErrorExtras = Record<string, unknown>;

/** A command (or write) failure with a MongoDB error code. */
export class CommandError extends Error {
  readonly code: number;
  readonly codeName: string;
  readonly extras: ErrorExtras;

  constructor(codeName: ErrorCodeName, message: string, extras: ErrorExtras = {}) {
    super(message);
    this.name = 'CommandError';
    this.code = ErrorCodes[codeName];
    this.codeName = codeName === 'UnknownField' ? 'Location40415'
      : codeName === 'UnrecognizedPipelineStage' ? 'Location40324' : codeName;
    this.extras = extras;
  }

  /** The `{ ok: 0, … }` reply document. */
  toReply(): Record<string, unknown> {
    return { ok: 0, errmsg: this.message, code: this.code, codeName: this.codeName, ...this.extras };
  }

  /** The entry of a `writeErrors` array. */
  toWriteError(index: number): Record<string, unknown> {
    return { index, code: this.code, errmsg: this.message, ...this.extras };
  }
}

/** Shorthand for throwing a {@link CommandError}. */
export function fail(codeName: ErrorCodeName, message: string, extras?: ErrorExtras): never {
  throw new CommandError(codeName, message, extras);
}

/**
 * Turns anything thrown while running a command into a {@link CommandError}: mingo's assertions (and invalid
 * regular expressions) are the client's fault; anything else is a bug in the engine and says so.
 */
export function toCommandError(err: unknown): CommandError {
  if (err instanceof CommandError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (!(err instanceof MingoError) && !(err instanceof SyntaxError)) {
    return new CommandError('InternalError', `internal error in the embedded engine: ${message}`);
  }
  // mingo's words for an operator it does not know; MongoDB calls this InvalidPipelineOperator.
  const unknown = /^(?:accumulator|operator|expression) '?(\$\w+)'? is not registered/i.exec(message);
  if (unknown) return new CommandError('InvalidPipelineOperator', `Unrecognized expression '${unknown[1]}'`);
  return new CommandError('BadValue', message);
}
