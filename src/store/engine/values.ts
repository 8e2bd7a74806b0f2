/**
 * Value semantics shared by indexes, sorting and `distinct`: canonical keys for equality (as a unique index
 * sees values) and MongoDB's cross-type ordering (https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/).
 */
import { BSON, Binary, Decimal128, Double, Long, MaxKey, MinKey, ObjectId, Timestamp, isPlainObject } from './bson.ts';
import { fail } from './errors.ts';

/**
 * A string equal for exactly the values MongoDB considers equal (in an index, `$eq`, `$in`, `$addToSet`, `$pull`):
 * numbers of any type (int, long, double) compare by value, binary values by subtype and bytes, `null` and a
 * missing field share one key, embedded documents compare field by field in order.
 */
export function keyOf(value: unknown): string {
  if (value === undefined || value === null) return 'z';
  switch (typeof value) {
    case 'string': return `s${value}`;
    case 'number': return `n${value}`;
    case 'boolean': return value ? 'bt' : 'bf';
    case 'bigint': return `n${value}`;
    default: break;
  }
  if (value instanceof Date) return `d${value.getTime()}`;
  if (value instanceof ObjectId) return `o${value.toHexString()}`;
  if (value instanceof Double) return `n${value.value}`;
  if (value instanceof Long) {
    const n = value.toNumber();
    return Number.isSafeInteger(n) ? `n${n}` : `n${value.toString()}`;
  }
  if (value instanceof Decimal128) return `m${decimalKey(value.toString())}`;
  if (value instanceof Binary) return `x${value.sub_type}:${Buffer.from(value.buffer).toString('hex')}`;
  if (value instanceof RegExp) return `r${value.source}/${value.flags}`;
  if (value instanceof Timestamp) return `t${value.toString()}`;
  if (value instanceof MinKey) return 'k-';
  if (value instanceof MaxKey) return 'k+';
  if (Array.isArray(value)) return `a[${value.map(keyOf).join(',')}]`;
  if (isPlainObject(value)) {
    return `e{${Object.keys(value).map((k) => `${JSON.stringify(k)}:${keyOf(value[k])}`).join(',')}}`;
  }
  return `u${String(value)}`;
}

/**
 * A Decimal128 by value, not by its written form: 1.0, 1.00 and 10E-1 are one value for MongoDB (and -0 is 0).
 */
function decimalKey(text: string): string {
  const match = /^(-)?(\d+)(?:\.(\d+))?(?:E([+-]?\d+))?$/i.exec(text);
  if (!match) return text;
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = match;
  let digits = (whole + fraction).replace(/^0+/, '');
  let scale = Number(exponent) - fraction.length;
  if (digits.length === 0) return '0';
  while (digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    scale += 1;
  }
  return `${sign}${digits}e${scale}`;
}

/**
 * The values a dotted path reaches in a document, expanding arrays on the way as MongoDB's multikey indexes do.
 * A missing field yields `[undefined]`; `isArray` tells whether an array was expanded.
 */
export function pathValues(doc: unknown, path: string): { values: unknown[]; isArray: boolean } {
  const out: unknown[] = [];
  let isArray = false;
  const walk = (value: unknown, parts: readonly string[], at: number): void => {
    if (at === parts.length) {
      if (Array.isArray(value)) {
        isArray = true;
        if (value.length === 0) out.push(undefined);
        else out.push(...value);
      } else {
        out.push(value);
      }
      return;
    }
    const part = parts[at] as string;
    if (Array.isArray(value)) {
      if (/^\d+$/.test(part)) {
        walk(value[Number(part)], parts, at + 1);
        return;
      }
      isArray = true;
      if (value.length === 0) out.push(undefined);
      for (const item of value) walk(item, parts, at);
      return;
    }
    if (isPlainObject(value) && Object.prototype.hasOwnProperty.call(value, part)) {
      walk(value[part], parts, at + 1);
      return;
    }
    out.push(undefined);
  };
  walk(doc, path.split('.'), 0);
  return { values: out, isArray };
}

/** MongoDB's type brackets for ordering (missing and null sort together; an empty array sorts before null). */
export function typeRank(value: unknown): number {
  if (value === undefined || value === null) return 2;
  switch (typeof value) {
    case 'number': case 'bigint': return 3;
    case 'string': return 4;
    case 'boolean': return 9;
    default: break;
  }
  if (value instanceof MinKey) return 1;
  if (value instanceof Double || value instanceof Long || value instanceof Decimal128) return 3;
  if (Array.isArray(value)) return 6;
  if (value instanceof Binary) return 7;
  if (value instanceof ObjectId) return 8;
  if (value instanceof Date) return 10;
  if (value instanceof Timestamp) return 11;
  if (value instanceof RegExp) return 12;
  if (value instanceof MaxKey) return 13;
  if (isPlainObject(value)) return 5;
  return 14;
}

function toBigOrNumber(value: unknown): number | bigint {
  if (value instanceof Double) return value.value;
  if (value instanceof Long) return BigInt(value.toString());
  if (value instanceof Decimal128) {
    return fail('NotImplemented', 'the embedded engine does not order Decimal128 values; use MongoDB for decimal sorting or ranges');
  }
  return value as number | bigint;
}

function compareNumbers(a: unknown, b: unknown): number {
  const x = toBigOrNumber(a);
  const y = toBigOrNumber(b);
  if (typeof x === 'number' && Number.isNaN(x)) return typeof y === 'number' && Number.isNaN(y) ? 0 : -1;
  if (typeof y === 'number' && Number.isNaN(y)) return 1;
  if (typeof x === 'bigint' && typeof y === 'number' && !Number.isInteger(y)) return Number(x) < y ? -1 : 1;
  if (typeof y === 'bigint' && typeof x === 'number' && !Number.isInteger(x)) return x < Number(y) ? -1 : 1;
  const bx = typeof x === 'number' && Number.isFinite(x) && typeof y === 'bigint' ? BigInt(x) : x;
  const by = typeof y === 'number' && Number.isFinite(y) && typeof x === 'bigint' ? BigInt(y) : y;
  return bx < by ? -1 : bx > by ? 1 : 0;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Total order over BSON values as MongoDB sorts them. */
export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 3: return compareNumbers(a, b);
    case 4: return a === b ? 0 : (a as string) < (b as string) ? -1 : 1;
    case 5: {
      const ea = Object.entries(a as object);
      const eb = Object.entries(b as object);
      for (let i = 0; i < Math.min(ea.length, eb.length); i++) {
        const [ka, va] = ea[i] as [string, unknown];
        const [kb, vb] = eb[i] as [string, unknown];
        const byType = typeRank(va) - typeRank(vb);
        if (byType !== 0) return byType < 0 ? -1 : 1;
        if (ka !== kb) return ka < kb ? -1 : 1;
        const byValue = compareValues(va, vb);
        if (byValue !== 0) return byValue;
      }
      return Math.sign(ea.length - eb.length);
    }
    case 6: {
      const xa = a as unknown[];
      const xb = b as unknown[];
      for (let i = 0; i < Math.min(xa.length, xb.length); i++) {
        const c = compareValues(xa[i], xb[i]);
        if (c !== 0) return c;
      }
      return Math.sign(xa.length - xb.length);
    }
    case 7: {
      const ba = a as InstanceType<typeof Binary>;
      const bb = b as InstanceType<typeof Binary>;
      if (ba.length() !== bb.length()) return ba.length() < bb.length() ? -1 : 1;
      if (ba.sub_type !== bb.sub_type) return ba.sub_type < bb.sub_type ? -1 : 1;
      return compareBytes(ba.buffer, bb.buffer);
    }
    case 8: return compareBytes((a as InstanceType<typeof ObjectId>).id, (b as InstanceType<typeof ObjectId>).id);
    case 9: return Number(a) - Number(b);
    case 10: return Math.sign((a as Date).getTime() - (b as Date).getTime());
    case 11: return (a as InstanceType<typeof Timestamp>).compare(b as InstanceType<typeof Timestamp>);
    case 12: {
      const sa = `${(a as RegExp).source}/${(a as RegExp).flags}`;
      const sb = `${(b as RegExp).source}/${(b as RegExp).flags}`;
      return sa === sb ? 0 : sa < sb ? -1 : 1;
    }
    default: return 0;
  }
}

/**
 * The value a document sorts by for one sort key: for arrays the smallest element ascending and the largest
 * descending (MongoDB's rule); an empty array sorts before null.
 */
export function sortKeyOf(doc: unknown, path: string, direction: 1 | -1): unknown {
  const { values, isArray } = pathValues(doc, path);
  if (!isArray) return values[0];
  const present = values.filter((v) => v !== undefined);
  if (present.length === 0) return values.length ? EMPTY_ARRAY_SORT_KEY : undefined;
  let best = present[0];
  for (const v of present) {
    const c = compareValues(v, best);
    if (direction === 1 ? c < 0 : c > 0) best = v;
  }
  return best;
}

/** Stand-in that sorts below null (MongoDB orders an empty array before null and missing fields). */
const EMPTY_ARRAY_SORT_KEY = new MinKey();

/**
 * True when two values are the same BSON: same types (int, long and double apart; binary subtypes apart), same
 * values, same field order. MongoDB counts an update as a modification unless it leaves the document byte-identical,
 * so `$set: { n: 5 }` over the double 5.0 changes the stored type.
 */
export function identical(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number') return typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!identical(a[i], b[i])) return false;
    return true;
  }
  if (isPlainObject(a)) {
    if (!isPlainObject(b)) return false;
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    for (let i = 0; i < ka.length; i++) {
      const key = ka[i] as string;
      if (key !== kb[i] || !identical(a[key], b[key])) return false;
    }
    return true;
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Double) return Object.is(a.value, (b as InstanceType<typeof Double>).value);
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime());
  if (a instanceof RegExp) return a.source === (b as RegExp).source && a.flags === (b as RegExp).flags;
  if (a instanceof ObjectId || a instanceof Long || a instanceof Timestamp) return a.equals(b as never);
  if (a instanceof Binary) {
    const other = b as InstanceType<typeof Binary>;
    return a.sub_type === other.sub_type && compareBytes(a.buffer, other.buffer) === 0;
  }
  return Buffer.from(BSON.serialize({ v: a })).equals(BSON.serialize({ v: b }));
}
