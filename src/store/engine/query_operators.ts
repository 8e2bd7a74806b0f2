/**
 * Query operators the engine answers itself, with MongoDB's semantics, where mingo's differ: equality (`$eq`, `$ne`,
 * `$in`, `$nin`) by MongoDB's value rules (numbers of every type by value, binary values by subtype and bytes),
 * ranges and `$type` over BSON types, `$all`, `$elemMatch` (also with DBRef criteria), `$size`, `$mod` and the bit
 * tests (also over binary values). Each is a mingo query operator: `(selector, operand, options) => (doc) => boolean`.
 */
import type { Options } from 'mingo/types';
import { $eq as mingoEq, $expr as mingoExpr } from 'mingo/operators/query';
import { Query } from 'mingo/query';
import {
  Binary, Code, Decimal128, Double, Long, MaxKey, MinKey, ObjectId, Timestamp, isInt32Number, isPlainObject, type Doc,
} from './bson.ts';
import { fail } from './errors.ts';
import { compareValues, keyOf, typeRank } from './values.ts';

type Predicate = (doc: Doc) => boolean;
type QueryOperator = (selector: string, operand: unknown, options: Partial<Options>) => Predicate;

const INDEX = /^\d+$/;

/**
 * The values a field path reaches in a document, as MongoDB's matcher sees them: the value at the end of the path
 * and, when that is an array, each of its elements. Arrays on the way are traversed one level (their documents are
 * followed; nested arrays are not, unless the next part is an array index). Missing fields add nothing.
 */
export function fieldValues(value: unknown, parts: readonly string[], at = 0, out: unknown[] = []): unknown[] {
  if (at === parts.length) {
    if (value === undefined) return out;
    out.push(value);
    if (Array.isArray(value)) for (const item of value) out.push(item);
    return out;
  }
  const part = parts[at] as string;
  if (Array.isArray(value)) {
    if (INDEX.test(part)) return fieldValues(value[Number(part)], parts, at + 1, out);
    for (const item of value) {
      if (isPlainObject(item) && Object.prototype.hasOwnProperty.call(item, part)) fieldValues(item[part], parts, at + 1, out);
    }
  } else if (isPlainObject(value) && Object.prototype.hasOwnProperty.call(value, part)) {
    fieldValues(value[part], parts, at + 1, out);
  }
  return out;
}

/** True when `test` holds for one of the values {@link fieldValues} collects (without collecting them). */
export function someFieldValue(value: unknown, parts: readonly string[], at: number, test: (candidate: unknown) => boolean): boolean {
  if (at === parts.length) {
    if (value === undefined) return false;
    if (test(value)) return true;
    if (Array.isArray(value)) for (const item of value) if (test(item)) return true;
    return false;
  }
  const part = parts[at] as string;
  if (Array.isArray(value)) {
    if (INDEX.test(part)) return someFieldValue(value[Number(part)], parts, at + 1, test);
    for (const item of value) {
      if (isPlainObject(item) && Object.prototype.hasOwnProperty.call(item, part) && someFieldValue(item[part], parts, at + 1, test)) return true;
    }
    return false;
  }
  if (isPlainObject(value) && Object.prototype.hasOwnProperty.call(value, part)) return someFieldValue(value[part], parts, at + 1, test);
  return false;
}

/** The arrays a field path reaches (for `$elemMatch` and `$size`), traversing arrays on the way like {@link fieldValues}. */
function fieldArrays(doc: Doc, parts: readonly string[]): unknown[][] {
  const out: unknown[][] = [];
  const walk = (value: unknown, at: number): void => {
    if (at === parts.length) {
      if (Array.isArray(value)) out.push(value);
      return;
    }
    const part = parts[at] as string;
    if (Array.isArray(value)) {
      if (INDEX.test(part)) walk(value[Number(part)], at + 1);
      else for (const item of value) if (isPlainObject(item) && Object.prototype.hasOwnProperty.call(item, part)) walk(item[part], at + 1);
    } else if (isPlainObject(value) && Object.prototype.hasOwnProperty.call(value, part)) {
      walk(value[part], at + 1);
    }
  };
  walk(doc, 0);
  return out;
}

/** A test for values equal to `value` as MongoDB compares them (https://www.mongodb.com/docs/manual/reference/operator/query/eq/). */
export function equalTo(value: unknown): (candidate: unknown) => boolean {
  if (typeof value === 'string' || typeof value === 'boolean') return (candidate) => candidate === value;
  const key = keyOf(value);
  if (typeRank(value) === 3) {
    return (candidate) => {
      if (candidate instanceof Decimal128) refuseDecimal();
      return typeRank(candidate) === 3 && keyOf(candidate) === key;
    };
  }
  return (candidate) => candidate !== undefined && candidate !== null && keyOf(candidate) === key;
}

/** A Decimal128 equals a number of the same value on MongoDB; mingo and the engine's keys compare its text form. */
function refuseDecimal(): never {
  return fail('NotImplemented', 'the embedded engine does not compare Decimal128 values with numbers; use MongoDB for decimal queries');
}

function withoutGlobalFlags(re: RegExp): RegExp {
  return re.global || re.sticky ? new RegExp(re.source, re.flags.replace(/[gy]/g, '')) : re;
}

/**
 * `$eq`: the field (or an element of an array field) equals the operand. Equality to `null` (also matching a missing
 * field) is left to mingo, which answers it as MongoDB does.
 */
const eqOperator: QueryOperator = (selector, operand, options) => {
  if (operand === null || operand === undefined) return mingoEq(selector, null, options as Options) as Predicate;
  const parts = selector.split('.');
  const matches = equalTo(operand);
  return (doc) => someFieldValue(doc, parts, 0, matches);
};

/** `$in`: equality to any listed value; a regular expression in the list matches strings. */
const inOperator: QueryOperator = (selector, operand, options) => {
  if (!Array.isArray(operand)) fail('BadValue', '$in needs an array');
  const nullTest = operand.some((v) => v === null) ? (mingoEq(selector, null, options as Options) as Predicate) : undefined;
  const patterns = operand.filter((v): v is RegExp => v instanceof RegExp).map(withoutGlobalFlags);
  const keys = new Set(operand.filter((v) => v !== null && v !== undefined && !(v instanceof RegExp)).map(keyOf));
  const numeric = operand.some((v) => typeRank(v) === 3);
  const parts = selector.split('.');
  const strings = new Set(operand.filter((v): v is string => typeof v === 'string'));
  const matches = (candidate: unknown): boolean => {
    if (typeof candidate === 'string') return strings.has(candidate) || patterns.some((re) => re.test(candidate));
    if (candidate === null || candidate === undefined) return false;
    if (numeric && candidate instanceof Decimal128) refuseDecimal();
    return keys.has(keyOf(candidate));
  };
  return (doc) => Boolean(nullTest?.(doc)) || someFieldValue(doc, parts, 0, matches);
};

const neOperator: QueryOperator = (selector, operand, options) => {
  const eq = eqOperator(selector, operand, options);
  return (doc) => !eq(doc);
};

const ninOperator: QueryOperator = (selector, operand, options) => {
  const isIn = inOperator(selector, operand, options);
  return (doc) => !isIn(doc);
};

/**
 * `$gt`/`$gte`/`$lt`/`$lte` as MongoDB evaluates them: the field (or any element of an array field) compared
 * within the operand's type bracket, numbers of every type together (mingo compares same-class values only, so a
 * Long never matches a number range). `$gte`/`$lte: null` also match a missing field.
 */
function rangeOperator(test: (order: number) => boolean): QueryOperator {
  return (selector, operand) => {
    const parts = selector.split('.');
    const bracket = typeRank(operand);
    const inBracket = (value: unknown): boolean => typeRank(value) === bracket && test(compareValues(value, operand));
    if (operand === null && test(0)) {
      return (doc) => {
        const candidates = fieldValues(doc, parts);
        return candidates.length === 0 || candidates.includes(null) || candidates.some(inBracket);
      };
    }
    return (doc) => someFieldValue(doc, parts, 0, inBracket);
  };
}

/** BSON type tests for `$type` (https://www.mongodb.com/docs/manual/reference/operator/query/type/). */
export const TYPE_TESTS = new Map<string | number, (value: unknown) => boolean>();
const typeTest = (aliases: ReadonlyArray<string | number>, test: (value: unknown) => boolean): void => {
  for (const alias of aliases) TYPE_TESTS.set(alias, test);
};
typeTest(['double', 1], (v) => (typeof v === 'number' && !isInt32Number(v)) || v instanceof Double);
typeTest(['string', 2], (v) => typeof v === 'string');
typeTest(['object', 3], (v) => isPlainObject(v));
typeTest(['array', 4], (v) => Array.isArray(v));
typeTest(['binData', 5], (v) => v instanceof Binary);
typeTest(['objectId', 7], (v) => v instanceof ObjectId);
typeTest(['bool', 8], (v) => typeof v === 'boolean');
typeTest(['date', 9], (v) => v instanceof Date);
typeTest(['null', 10], (v) => v === null);
typeTest(['regex', 11], (v) => v instanceof RegExp);
typeTest(['javascript', 13], (v) => v instanceof Code && !v.scope);
typeTest(['javascriptWithScope', 15], (v) => v instanceof Code && Boolean(v.scope));
typeTest(['int', 16], (v) => typeof v === 'number' && isInt32Number(v));
typeTest(['timestamp', 17], (v) => v instanceof Timestamp);
typeTest(['long', 18], (v) => v instanceof Long);
typeTest(['decimal', 19], (v) => v instanceof Decimal128);
typeTest(['minKey', -1], (v) => v instanceof MinKey);
typeTest(['maxKey', 127], (v) => v instanceof MaxKey);
typeTest(['number'], (v) => typeof v === 'number' || v instanceof Double || v instanceof Long || v instanceof Decimal128);

/** `$type`: the field itself or, for an array, one of its elements has one of the listed types. */
const typeOperator: QueryOperator = (selector, operand) => {
  const tests = (Array.isArray(operand) ? operand : [operand]).map((alias) => TYPE_TESTS.get(typeAlias(alias)));
  const parts = selector.split('.');
  return (doc) => someFieldValue(doc, parts, 0, (candidate) => tests.some((test) => test?.(candidate)));
};

/** A numeric `$type` code may arrive as a long or a double. */
export function typeAlias(alias: unknown): string | number {
  if (alias instanceof Double || alias instanceof Long) return Number(alias.valueOf());
  return alias as string | number;
}

/**
 * `$all` as MongoDB defines it (https://www.mongodb.com/docs/manual/reference/operator/query/all/): `{f: {$all: [a, b]}}`
 * is `{$and: [{f: a}, {f: b}]}`, each value (or `$elemMatch`) matched like an equality — so a field that is not an
 * array matches when it equals every value — and an empty list matches nothing. A regular expression in the list
 * matches as `{f: /re/}` does (a string value or element matching the pattern), not as `$eq` of a regex value.
 * mingo's own `$all` needs an array.
 */
const allOperator: QueryOperator = (selector, operand, options) => {
  if (!Array.isArray(operand) || operand.length === 0) return () => false;
  const clauses = operand.map((item: unknown) => ({
    [selector]: (isPlainObject(item) && '$elemMatch' in item) || item instanceof RegExp ? item : { $eq: item },
  }));
  const query = new Query({ $and: clauses }, options);
  return (doc) => query.test(doc);
};

const LOGICAL = new Set(['$and', '$or', '$nor']);
const DBREF_FIELDS = new Set(['$ref', '$id', '$db']);

/** True for a complete DBRef (`$ref` and `$id`), which a filter compares as a value, not as operators. */
export function isDbRef(value: unknown): boolean {
  return isPlainObject(value) && Object.prototype.hasOwnProperty.call(value, '$ref') && Object.prototype.hasOwnProperty.call(value, '$id');
}

/** True when `$elemMatch` criteria name DBRef fields: MongoDB then matches the elements as documents. */
export function namesDbRefFields(criteria: Doc): boolean {
  return Object.keys(criteria).some((key) => DBREF_FIELDS.has(key));
}

/** Rewrites a filter so that mingo compares DBRef values as values (`{f: {$ref, $id}}` → `{f: {$eq: …}}`). */
export function prepareFilter(filter: Doc): Doc {
  let out: Doc | undefined;
  for (const [key, value] of Object.entries(filter)) {
    let next = value;
    if (LOGICAL.has(key) && Array.isArray(value)) next = value.map((clause) => (isPlainObject(clause) ? prepareFilter(clause) : clause));
    else if (!key.startsWith('$') && isDbRef(value)) next = { $eq: value };
    if (next !== value) {
      out ??= { ...filter };
      out[key] = next;
    }
  }
  return out ?? filter;
}

/** Prefixes the field paths of a filter (keeping `$and`/`$or`/`$nor`), so DBRef fields become ordinary paths. */
function prefixPaths(filter: Doc, prefix: string): Doc {
  const out: Doc = {};
  for (const [key, value] of Object.entries(filter)) {
    if (LOGICAL.has(key) && Array.isArray(value)) out[key] = value.map((clause) => (isPlainObject(clause) ? prefixPaths(clause, prefix) : clause));
    else out[key.startsWith('$') && !DBREF_FIELDS.has(key) ? key : `${prefix}${key}`] = value;
  }
  return out;
}

/**
 * The test `$elemMatch` applies to each array element
 * (https://www.mongodb.com/docs/manual/reference/operator/query/elemMatch/): criteria starting with an operator
 * other than `$and`/`$or`/`$nor` apply to the element itself (`{$gte: 80, $lt: 85}`); otherwise the element must
 * be a document matching them as a query — also when they name DBRef fields (`{$id: …}`).
 */
export function elementPredicate(criteria: Doc, options: Partial<Options>): (element: unknown) => boolean {
  const keys = Object.keys(criteria);
  if (keys.length === 0) return (element) => isPlainObject(element) || Array.isArray(element);
  const first = keys[0] as string;
  if (namesDbRefFields(criteria)) {
    const query = new Query(prepareFilter(prefixPaths(criteria, 'e.')), options);
    return (element) => isPlainObject(element) && query.test({ e: element });
  }
  if (first.startsWith('$') && !LOGICAL.has(first)) {
    const query = new Query({ e: criteria }, options);
    return (element) => query.test({ e: element });
  }
  const query = new Query(prepareFilter(criteria), options);
  return (element) => (isPlainObject(element) || Array.isArray(element)) && query.test(element as Doc);
}

const elemMatchOperator: QueryOperator = (selector, operand, options) => {
  if (!isPlainObject(operand)) fail('BadValue', '$elemMatch needs an Object');
  const test = elementPredicate(operand, options);
  const parts = selector.split('.');
  return (doc) => fieldArrays(doc, parts).some((array) => array.some(test));
};

/** A whole number from a numeric operand (a long, a double or an int), or `undefined`. */
function integerOperand(value: unknown): bigint | undefined {
  if (value instanceof Long) return BigInt(value.toString());
  const n = value instanceof Double ? value.value : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) return undefined;
  return BigInt(Math.trunc(n));
}

const sizeOperator: QueryOperator = (selector, operand) => {
  const n = operand instanceof Double || operand instanceof Long ? Number(operand.valueOf()) : operand;
  if (typeof n !== 'number') fail('BadValue', '$size needs a number');
  if (!Number.isInteger(n)) fail('BadValue', `$size must be a whole number`);
  if (n < 0) fail('BadValue', '$size may not be negative');
  const parts = selector.split('.');
  return (doc) => fieldArrays(doc, parts).some((array) => array.length === n);
};

/**
 * `$mod: [divisor, remainder]` (https://www.mongodb.com/docs/manual/reference/operator/query/mod/): operands and
 * field values are truncated to whole numbers, as MongoDB does (mingo computes `5.5 % 2` as 1.5).
 */
const modOperator: QueryOperator = (selector, operand) => {
  if (!Array.isArray(operand)) fail('BadValue', 'malformed mod, needs to be an array');
  if (operand.length < 2) fail('BadValue', 'malformed mod, not enough elements');
  if (operand.length > 2) fail('BadValue', 'malformed mod, too many elements');
  const divisor = integerOperand(operand[0]);
  const remainder = integerOperand(operand[1]);
  if (divisor === undefined) fail('BadValue', 'malformed mod, divisor not a number');
  if (remainder === undefined) fail('BadValue', 'malformed mod, remainder not a number');
  if (divisor === 0n) fail('BadValue', 'divisor cannot be 0');
  const parts = selector.split('.');
  return (doc) => someFieldValue(doc, parts, 0, (value) => {
    if (typeRank(value) !== 3 || value instanceof Decimal128) return false;
    const n = integerOperand(value);
    return n !== undefined && n % divisor === remainder;
  });
};

/** The bit positions a bit-test operand names: a list of positions, a numeric bitmask or a binary bitmask. */
function bitPositions(op: string, operand: unknown): number[] {
  if (Array.isArray(operand)) {
    return operand.map((position) => {
      const n = position instanceof Double || position instanceof Long ? Number(position.valueOf()) : position;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) fail('BadValue', `bit positions must be non-negative integers (${op})`);
      return n;
    });
  }
  if (operand instanceof Binary) {
    const bytes = operand.buffer;
    const out: number[] = [];
    for (let i = 0; i < bytes.length * 8; i++) if (((bytes[i >> 3] as number) >> (i & 7)) & 1) out.push(i);
    return out;
  }
  const mask = integerOperand(operand);
  const exact = operand instanceof Long || (typeof operand === 'number' && Number.isInteger(operand))
    || (operand instanceof Double && Number.isInteger(operand.value));
  if (mask === undefined || !exact || mask < 0n) fail('BadValue', `${op} takes a non-negative whole number, a list of bit positions or BinData as its bitmask`);
  const out: number[] = [];
  for (let i = 0; i < 64; i++) if ((mask >> BigInt(i)) & 1n) out.push(i);
  return out;
}

/** Reads bit `i` of a field value: a whole number (two's complement, 64 bits) or a binary value (bit 0 = lowest of byte 0). */
function bitReader(value: unknown): ((i: number) => boolean) | undefined {
  if (value instanceof Binary) {
    const bytes = value.buffer;
    return (i) => i >> 3 < bytes.length && (((bytes[i >> 3] as number) >> (i & 7)) & 1) === 1;
  }
  if (value instanceof Decimal128) return undefined;
  const n = value instanceof Long ? BigInt(value.toString())
    : typeof value === 'number' || value instanceof Double ? Number(value.valueOf()) : undefined;
  if (n === undefined) return undefined;
  if (typeof n === 'number' && (!Number.isInteger(n) || Math.abs(n) >= 2 ** 63)) return undefined;
  const big = BigInt(n);
  return (i) => (i >= 64 ? big < 0n : ((big >> BigInt(i)) & 1n) === 1n);
}

/**
 * `$bitsAllSet`, `$bitsAnySet`, `$bitsAllClear`, `$bitsAnyClear` over whole numbers and binary values
 * (https://www.mongodb.com/docs/manual/reference/operator/query-bitwise/): mingo tests 32-bit numbers only.
 */
function bitsOperator(op: string, every: boolean, set: boolean): QueryOperator {
  return (selector, operand) => {
    const positions = bitPositions(op, operand);
    const parts = selector.split('.');
    return (doc) => someFieldValue(doc, parts, 0, (value) => {
      const bit = bitReader(value);
      if (!bit) return false;
      const test = (i: number): boolean => bit(i) === set;
      return every ? positions.every(test) : positions.some(test);
    });
  };
}

/**
 * Replaces int64 and whole-number double values (kept as {@link Long}/{@link Double} objects, see `bson.ts`) by JS
 * numbers where that is exact, for mingo's expression operators, which compute with JS numbers only. Copies only
 * what changes. Larger Longs stay as they are (aggregation refuses them, see `read.ts`).
 */
export function lowerNumbers(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Double) return value.value;
  if (value instanceof Long) {
    const n = value.toNumber();
    return Number.isSafeInteger(n) ? n : value;
  }
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const next = lowerNumbers(value[i]);
      if (next !== value[i]) (out ??= value.slice())[i] = next;
    }
    return out ?? value;
  }
  if (!isPlainObject(value)) return value;
  let out: Doc | undefined;
  for (const key of Object.keys(value)) {
    const next = lowerNumbers(value[key]);
    if (next !== value[key]) (out ??= { ...value })[key] = next;
  }
  return out ?? value;
}

/**
 * What in a value mingo's expression operators would not compute or pass on as MongoDB does, described for an
 * error message, or `undefined`: Decimal128 and int64 values, doubles holding whole numbers (mingo computes with JS
 * numbers, so their BSON type would be lost) and fields named `__proto__`.
 */
export function valueMingoLoses(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (value instanceof Decimal128) return 'Decimal128 values';
  if (value instanceof Long) return '64-bit long values';
  if (value instanceof Double) return 'doubles holding whole numbers';
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = valueMingoLoses(item);
      if (found) return found;
    }
    return undefined;
  }
  if (!isPlainObject(value)) return undefined;
  for (const key of Object.keys(value)) {
    if (key === '__proto__') return 'fields named __proto__';
    const found = valueMingoLoses(value[key]);
    if (found) return found;
  }
  return undefined;
}

/** `$expr` evaluated by mingo's expression operators over the document with its numbers lowered. */
const exprOperator: QueryOperator = (selector, operand, options) => {
  const test = mingoExpr(selector, lowerNumbers(operand), options as Options) as Predicate;
  return (doc) => test(lowerNumbers(doc) as Doc);
};

export const QUERY_OPERATORS: Record<string, QueryOperator> = {
  $eq: eqOperator,
  $ne: neOperator,
  $in: inOperator,
  $nin: ninOperator,
  $gt: rangeOperator((c) => c > 0),
  $gte: rangeOperator((c) => c >= 0),
  $lt: rangeOperator((c) => c < 0),
  $lte: rangeOperator((c) => c <= 0),
  $type: typeOperator,
  $all: allOperator,
  $elemMatch: elemMatchOperator,
  $size: sizeOperator,
  $mod: modOperator,
  $expr: exprOperator,
  $bitsAllSet: bitsOperator('$bitsAllSet', true, true),
  $bitsAnySet: bitsOperator('$bitsAnySet', false, true),
  $bitsAllClear: bitsOperator('$bitsAllClear', true, false),
  $bitsAnyClear: bitsOperator('$bitsAnyClear', false, false),
};
