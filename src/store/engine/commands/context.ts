/** What every command handler receives, and the helpers they share for reading command fields strictly. */
import { Long, isPlainObject, type Doc } from '../bson.ts';
import type { Catalog } from '../catalog.ts';
import type { Collection } from '../collection.ts';
import type { CursorRegistry } from '../cursors.ts';
import { fail } from '../errors.ts';
import type { SortSpec } from '../matcher.ts';

export interface CommandContext {
  readonly catalog: Catalog;
  readonly cursors: CursorRegistry;
  /** The command's `$db`. */
  readonly db: string;
  readonly connectionId: number;
  /** The serving engine: when it started (epoch ms) and its connections (`serverStatus`), its TTL sweep (`setParameter`). */
  readonly engine?: EngineControls;
}

export interface EngineControls {
  readonly startedAt: number;
  connections(): { current: number; totalCreated: number };
  /** The interval of the TTL sweep in milliseconds. */
  ttlSweepMs(): number;
  /** Changes the interval of the TTL sweep (the next sweep runs one new interval from now). */
  setTtlSweepMs(ms: number): void;
}

export interface CommandDef {
  /** Fields this command accepts besides its name and the generic ones; `'any'` accepts every field. */
  readonly fields: ReadonlySet<string> | 'any';
  run(cmd: Doc, ctx: CommandContext): Doc;
}

export function defineCommand(fields: readonly string[] | 'any', run: CommandDef['run']): CommandDef {
  return { fields: fields === 'any' ? 'any' : new Set(fields), run };
}

/** Rejects fields of a sub-document that the command does not know (MongoDB's IDL does the same). */
export function checkFields(doc: Doc, allowed: readonly string[], where: string): void {
  for (const field of Object.keys(doc)) {
    if (!allowed.includes(field)) fail('UnknownField', `BSON field '${where}.${field}' is an unknown field.`);
  }
}

export function optionalDoc(cmd: Doc, field: string, name: string): Doc | undefined {
  const value = cmd[field];
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) fail('TypeMismatch', `BSON field '${name}.${field}' is the wrong type '${Array.isArray(value) ? 'array' : typeof value}', expected type 'object'`);
  return value;
}

export function optionalBool(cmd: Doc, field: string, name: string): boolean {
  const value = cmd[field];
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  return fail('TypeMismatch', `BSON field '${name}.${field}' is the wrong type '${typeof value}', expected type 'bool'`);
}

export function optionalInt(cmd: Doc, field: string, name: string): number | undefined {
  const value = cmd[field];
  if (value === undefined || value === null) return undefined;
  const n = value instanceof Long ? value.toNumber() : value;
  if (typeof n !== 'number' || !Number.isInteger(n)) fail('TypeMismatch', `BSON field '${name}.${field}' is the wrong type '${typeof value}', expected a number`);
  return n;
}

export function collectionName(cmd: Doc, name: string): string {
  const value = cmd[name];
  if (typeof value !== 'string' || value.length === 0) fail('InvalidNamespace', `collection name has invalid type ${typeof value}`);
  return value;
}

/** `collation` changes string comparison; only the binary ("simple") collation is honoured. */
export function refuseCollation(value: unknown): void {
  if (value === undefined || value === null) return;
  if (isPlainObject(value) && (Object.keys(value).length === 0 || (value.locale === 'simple' && Object.keys(value).length === 1))) return;
  fail('NotImplemented', 'collation is not supported by the embedded engine (only the simple binary collation is); use MongoDB for locale-aware comparison');
}

/** `let` variables are not supported outside aggregate. */
export function refuseLet(value: unknown): void {
  if (value === undefined || value === null || (isPlainObject(value) && Object.keys(value).length === 0)) return;
  fail('NotImplemented', "the 'let' option is not supported by the embedded engine for this command");
}

/**
 * Checks a `hint` and returns the order it imposes (https://www.mongodb.com/docs/manual/reference/method/cursor.hint/):
 * a hinted index is scanned in its key order, so documents come back in that order when no sort is given (and
 * `updateOne`, `deleteOne` or `findOneAndUpdate` without a sort take the first one in it); `{$natural: -1}` scans
 * in reverse insertion order. Hints naming a sparse or partial index are refused (they would change which
 * documents match), as are hints naming no index.
 */
export function checkHint(value: unknown, collection: Collection | undefined): SortSpec | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && value.length === 0) return undefined;
  if (isPlainObject(value) && Object.keys(value).length === 0) return undefined;
  if (isPlainObject(value) && Object.keys(value).length === 1 && '$natural' in value) {
    return Number(value.$natural) < 0 ? [['$natural', -1]] : [['$natural', 1]];
  }
  const index = collection?.indexes.find((candidate) => (typeof value === 'string' ? candidate.name === value
    : isPlainObject(value) && JSON.stringify(candidate.spec.key) === JSON.stringify(value)));
  if (!index) fail('BadValue', 'error processing query: planner returned error :: caused by :: hint provided does not correspond to an existing index');
  if (!index.complete) fail('NotImplemented', `the embedded engine does not honour hints naming a sparse or partial index (${index.name})`);
  return Object.entries(index.spec.key);
}
