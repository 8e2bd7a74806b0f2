/**
 * BSON through the driver mongoose bundles, so encoder and decoder versions always match the client's.
 * Values live in memory in one canonical form, chosen so that encoding gives back the BSON type that was written:
 * an int32 and a double that is not a whole number in the int32 range are JS numbers (the encoder writes a whole
 * number in that range as int32, anything else as double); a double holding such a whole number stays a
 * {@link Double}; every int64 stays a {@link Long}. Dates, RegExps, ObjectIds, Binaries, Decimal128s, Timestamps are
 * the driver's classes; a DBRef is the plain sub-document it is in BSON (`$ref`, `$id`, `$db`, …); documents are
 * plain objects (an own `__proto__` field is an ordinary own property) and arrays.
 */
import mongoose from 'mongoose';

export const BSON = mongoose.mongo.BSON;
export const { ObjectId, Long, Double, Int32, Decimal128, Binary, Timestamp, MinKey, MaxKey, DBRef, BSONSymbol, Code } = BSON;

/** A BSON document as held in memory. */
export type Doc = Record<string, unknown>;

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;

/** True for a JS number the encoder writes as int32 (a whole number in range, not -0). */
export function isInt32Number(value: number): boolean {
  return Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX && !Object.is(value, -0);
}

/** A double in canonical form: a {@link Double} when a plain number would be encoded as int32. */
export function canonicalDouble(value: number): number | InstanceType<typeof Double> {
  return isInt32Number(value) ? new Double(value) : value;
}

/** Encodes a document; `undefined` fields are dropped as the driver does. */
export function encode(doc: Doc): Uint8Array {
  return BSON.serialize(doc, { ignoreUndefined: true });
}

/** Decodes one document (throws on malformed input) into the canonical in-memory form. */
export function decode(bytes: Uint8Array): Doc {
  return canonical(BSON.deserialize(bytes, { validation: { utf8: true }, promoteValues: false })) as Doc;
}

/** Rewrites a freshly decoded value in place into the canonical form (see the module comment). */
function canonical(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Int32) return value.value;
  if (value instanceof Double) return canonicalDouble(value.value);
  if (value instanceof BSONSymbol) return value.value;
  if (value instanceof DBRef) {
    const ref: Doc = { $ref: value.collection, $id: canonical(value.oid) };
    if (value.db) ref.$db = value.db;
    for (const key of Object.keys(value.fields)) setField(ref, key, canonical(value.fields[key]));
    return ref;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item !== null && typeof item === 'object') value[i] = canonical(item);
    }
    return value;
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      const item = value[key];
      if (item === null || typeof item !== 'object') continue;
      const next = canonical(item);
      if (next !== item) value[key] = next;
    }
  }
  return value;
}

/**
 * Sets an own field, also one named `__proto__` (a plain assignment would change the object's prototype instead,
 * silently dropping the field). MongoDB stores such a field like any other.
 */
export function setField(doc: Doc, key: string, value: unknown): void {
  if (key === '__proto__' && !Object.prototype.hasOwnProperty.call(doc, key)) {
    Object.defineProperty(doc, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    doc[key] = value;
  }
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
    for (const key of Object.keys(value)) setField(out, key, cloneValue(value[key]));
    return out as T;
  }
  return value;
}


/** Renders a value the way MongoDB shows it inside error messages (`{ email: "x" }`). */
export function formatValue(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return `new Date(${value.getTime()})`;
  if (value instanceof ObjectId) return `ObjectId('${value.toHexString()}')`;
  if (value instanceof Long) return value.toString();
  if (value instanceof Double) return Number.isInteger(value.value) ? value.value.toFixed(1) : String(value.value);
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
