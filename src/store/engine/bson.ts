/**
 * BSON through the driver mongoose bundles, so encoder and decoder versions always match the client's.
 * Values live in memory as the driver decodes them: numbers, strings, Date, RegExp, ObjectId, Binary, Long
 * (outside the safe-integer range), Decimal128, Timestamp, nested plain objects and arrays.
 */
import mongoose from 'mongoose';

export const BSON = mongoose.mongo.BSON;
export const { ObjectId, Long, Decimal128, Binary, Timestamp, MinKey, MaxKey } = BSON;

/** A BSON document as held in memory. */
export type Doc = Record<string, unknown>;

/** Encodes a document; `undefined` fields are dropped as the driver does. */
export function encode(doc: Doc): Uint8Array {
  return BSON.serialize(doc, { ignoreUndefined: true });
}

/** Decodes one document (throws on malformed input). */
export function decode(bytes: Uint8Array): Doc {
  return BSON.deserialize(bytes, { validation: { utf8: true } }) as Doc;
}

/** Plain object (not an array, not a BSON value class). */
export function isPlainObject(value: unknown): value is Doc {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Deep copy of a stored value: plain objects, arrays, Dates and binary buffers are copied; immutable BSON
 * values (ObjectId, Long, Decimal128, Timestamp, …) are shared.
 */
export function cloneValue<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item: unknown) => cloneValue(item)) as T;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (value instanceof RegExp) return new RegExp(value.source, value.flags) as T;
  if (value instanceof Binary) return new Binary(Uint8Array.from(value.buffer), value.sub_type) as T;
  if (isPlainObject(value)) {
    const out: Doc = {};
    for (const key of Object.keys(value)) out[key] = cloneValue(value[key]);
    return out as T;
  }
  return value;
}

/** True for values whose ordering or equality mingo does not compute as MongoDB does. */
export function isUnorderableBsonValue(value: unknown): boolean {
  return value instanceof Decimal128 || value instanceof Long || value instanceof Timestamp
    || value instanceof MinKey || value instanceof MaxKey;
}

/** Renders a value the way MongoDB shows it inside error messages (`{ email: "x" }`). */
export function formatValue(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return `new Date(${value.getTime()})`;
  if (value instanceof ObjectId) return `ObjectId('${value.toHexString()}')`;
  if (value instanceof Long) return value.toString();
  if (value instanceof Decimal128) return `NumberDecimal("${value.toString()}")`;
  if (value instanceof RegExp) return String(value);
  if (value instanceof Binary) return `BinData(${value.sub_type}, ${Buffer.from(value.buffer).toString('hex').toUpperCase()})`;
  if (Array.isArray(value)) return `[ ${value.map(formatValue).join(', ')} ]`;
  if (isPlainObject(value)) {
    const parts = Object.entries(value).map(([k, v]) => `${k}: ${formatValue(v)}`);
    return parts.length ? `{ ${parts.join(', ')} }` : '{}';
  }
  return String(value);
}
