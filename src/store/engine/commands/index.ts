/**
 * Command dispatch: finds the handler, applies the checks common to every command (transactions refused,
 * informational fields accepted, unknown fields rejected), and turns failures into `{ ok: 0 }` replies.
 */
import { isPlainObject, type Doc } from '../bson.ts';
import { checkDbName } from '../catalog.ts';
import { fail, toCommandError } from '../errors.ts';
import { adminCommands } from './admin.ts';
import type { CommandContext, CommandDef } from './context.ts';
import { handshakeCommands } from './handshake.ts';
import { readCommands } from './read.ts';
import { writeCommands } from './write.ts';

export type { CommandContext } from './context.ts';
export { helloReply } from './handshake.ts';

const COMMANDS: Record<string, CommandDef> = {
  ...handshakeCommands, ...adminCommands, ...readCommands, ...writeCommands,
};

/** Fields any command may carry; they never change a result here. */
const GENERIC_FIELDS = new Set(['$db', 'lsid', '$clusterTime', '$readPreference', 'readPreference', 'writeConcern',
  'comment', 'apiVersion', 'apiStrict', 'apiDeprecationErrors', 'maxTimeMS', 'readConcern', '$client']);
/** Fields that only make sense on a replica set / with transactions. */
const TRANSACTION_FIELDS = ['txnNumber', 'startTransaction', 'autocommit', 'stmtId', 'stmtIds', 'coordinator'];
const TRANSACTION_COMMANDS = new Set(['startTransaction', 'commitTransaction', 'abortTransaction']);
/**
 * Commands MongoDB has and the engine does not run: refused by name (NotImplemented) rather than answered with
 * "no such command", which would read as a typo. Anything else unknown fails with CommandNotFound (59).
 */
const UNSUPPORTED_COMMANDS = new Set(['explain', 'collMod', 'renameCollection', 'mapReduce', 'validate', 'compact',
  'dbStats', 'collStats', 'dataSize', 'convertToCapped', 'cloneCollectionAsCapped', 'bulkWrite', 'createSearchIndexes',
  'dropSearchIndex', 'updateSearchIndex', 'createUser', 'dropUser', 'usersInfo', 'createRole', 'authenticate',
  'saslStart']);

function checkGeneric(name: string, cmd: Doc, def: CommandDef): void {
  for (const field of TRANSACTION_FIELDS) {
    if (field in cmd) fail('IllegalOperation', 'Transaction numbers are only allowed on a replica set member or mongos');
  }
  const readConcern = cmd.readConcern;
  if (readConcern !== undefined) {
    if (!isPlainObject(readConcern)) fail('TypeMismatch', 'readConcern must be an object');
    const level = readConcern.level;
    const unsupported = Object.keys(readConcern).filter((k) => k !== 'level');
    if (unsupported.length || (level !== undefined && level !== 'local' && level !== 'available' && level !== 'majority')) {
      fail('NotImplemented', `readConcern ${JSON.stringify(readConcern)} is not supported by the embedded engine`);
    }
  }
  if (def.fields === 'any') return;
  for (const field of Object.keys(cmd)) {
    if (field === name || GENERIC_FIELDS.has(field) || def.fields.has(field)) continue;
    fail('UnknownField', `BSON field '${name}.${field}' is an unknown field.`);
  }
}

/** Runs one command and returns its reply document (never throws). */
export function runCommand(cmd: Doc, ctx: Omit<CommandContext, 'db'>, dbOverride?: string): Doc {
  try {
    const name = Object.keys(cmd)[0];
    if (!name) fail('CommandNotFound', 'no such command: empty command document');
    if (TRANSACTION_COMMANDS.has(name)) fail('IllegalOperation', 'Transaction numbers are only allowed on a replica set member or mongos');
    const def = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!def && UNSUPPORTED_COMMANDS.has(name)) fail('NotImplemented', `the command '${name}' is not supported by the embedded engine`);
    if (!def) fail('CommandNotFound', `no such command: '${name}'`);
    const db = dbOverride ?? cmd.$db;
    if (typeof db !== 'string') fail('FailedToParse', "OP_MSG requests require a $db argument");
    checkDbName(db);
    checkGeneric(name, cmd, def);
    return { ...def.run(cmd, { ...ctx, db }), ok: 1 };
  } catch (err) {
    return toCommandError(err).toReply();
  }
}
