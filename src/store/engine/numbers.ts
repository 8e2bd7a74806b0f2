/**
 * Arithmetic of `$inc`, `$mul` and `$bit` with MongoDB's numeric types
 * (https://www.mongodb.com/docs/manual/reference/operator/update/inc/#behavior): int with int stays int (an
 * overflow becomes a long), long with int or long stays long (an overflow fails), anything with a double is a
 * double. Values are in the canonical in-memory form of `bson.ts` (int and most doubles as JS numbers, int64 as
 * {@link Long}, whole-number doubles as {@link Double}).
 */
import { Decimal128, Double, Long, canonicalDouble, isInt32Number } from './bson.ts';

export type NumberKind = 'int' | 'long' | 'double' | 'decimal';

/** The BSON numeric type of a value, or `undefined` for a non-number. */
export function numberKind(value: unknown): NumberKind | undefined {
  if (typeof value === 'number') return isInt32Number(value) ? 'int' : 'double';
  if (value instanceof Double) return 'double';
  if (value instanceof Long) return 'long';
  if (value instanceof Decimal128) return 'decimal';
  return undefined;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;

function asBigInt(value: unknown): bigint {
  return value instanceof Long ? BigInt(value.toString()) : BigInt(value as number);
}

function asDouble(value: unknown): number {
  if (value instanceof Long) return value.toNumber();
  return Number((value as number | InstanceType<typeof Double>).valueOf());
}

/** An integer result of the given kind, or `undefined` when it does not fit (a long overflow). */
function integerResult(result: bigint, kind: 'int' | 'long'): unknown {
  if (kind === 'int' && result >= INT32_MIN && result <= INT32_MAX) return Number(result);
  if (result >= INT64_MIN && result <= INT64_MAX) return Long.fromBigInt(result);
  return undefined;
}

/**
 * `a + b` (`$inc`) or `a * b` (`$mul`) with MongoDB's result type; `undefined` when a long overflows (MongoDB then
 * fails the update). Decimal128 is not computed here (callers refuse it).
 */
export function arithmetic(op: '$inc' | '$mul', a: unknown, b: unknown): unknown {
  const ka = numberKind(a);
  const kb = numberKind(b);
  if (ka === 'double' || kb === 'double') {
    const x = asDouble(a);
    const y = asDouble(b);
    return canonicalDouble(op === '$inc' ? x + y : x * y);
  }
  const x = asBigInt(a);
  const y = asBigInt(b);
  const result = op === '$inc' ? x + y : x * y;
  // An int result that does not fit becomes a long; a long result that does not fit is an error.
  return integerResult(result, ka === 'long' || kb === 'long' ? 'long' : 'int');
}

/** The zero `$mul` stores in a missing field: 0 of the multiplier's type. */
export function zeroLike(value: unknown): unknown {
  switch (numberKind(value)) {
    case 'long': return Long.fromNumber(0);
    case 'double': return new Double(0);
    default: return 0;
  }
}

/** `$bit` on ints and longs (https://www.mongodb.com/docs/manual/reference/operator/update/bit/). */
export function bitwise(op: 'and' | 'or' | 'xor', a: unknown, b: unknown): unknown {
  const x = asBigInt(a);
  const y = asBigInt(b);
  const result = op === 'and' ? x & y : op === 'or' ? x | y : x ^ y;
  const kind = numberKind(a) === 'long' || numberKind(b) === 'long' ? 'long' : 'int';
  return kind === 'int' ? Number(BigInt.asIntN(32, result)) : Long.fromBigInt(BigInt.asIntN(64, result));
}
