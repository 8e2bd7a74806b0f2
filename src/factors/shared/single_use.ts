/**
 * Atomic single-use consumption, written once for every factor (RFC 6238 §5.2, NIST SP 800-63B §5.1.4.2 and
 * §5.1.2.2: each OTP, each look-up secret is accepted once). Both helpers are one conditional `findOneAndUpdate`:
 * of any number of concurrent callers exactly one matches the filter, the others see the updated document and
 * get `false`. Nothing is kept in process memory, so this holds across server instances.
 */
import type { Model } from 'mongoose';

/**
 * Advances a monotonic counter at `path` to `value` when it is below it: `{ ...filter, [path]: { $lt: value } }` →
 * `{ $set: { [path]: value } }`. Used for TOTP time steps: once step T is accepted, T and every earlier step of the
 * same enrolment are refused (a stolen older code that is still inside the ±1 window cannot be replayed either).
 *
 * @returns whether this caller advanced it.
 */
export async function advanceCounter<T>(
  model: Model<T>,
  filter: Record<string, unknown>,
  path: string,
  value: number,
): Promise<boolean> {
  if (!Number.isSafeInteger(value)) throw new TypeError(`counter value must be a safe integer, got ${value}`);
  // Through the model, so the request forgets what it read of the document (src/store/model_reads.ts).
  const updated = await model.findOneAndUpdate(
    { ...filter, [path]: { $lt: value } } as never,
    { $set: { [path]: value } } as never,
    { returnDocument: 'after' },
  ).lean();
  return updated !== null;
}

/**
 * Marks one unused document as used: `{ ...filter, [path]: null }` → `{ $set: { [path]: at } }`. Used for recovery
 * codes (one document per code). A missing field also matches `null`, so a fresh document needs no initial value.
 *
 * @returns the document as it is after the update when this caller consumed it, `null` otherwise.
 */
export async function consumeOnce<T>(
  model: Model<T>,
  filter: Record<string, unknown>,
  path: string,
  at: Date,
): Promise<T | null> {
  const consumed = await model.findOneAndUpdate(
    { ...filter, [path]: null } as never,
    { $set: { [path]: at } } as never,
    { returnDocument: 'after' },
  ).lean<T>();
  return consumed ?? null;
}
