/**
 * The one constant-time comparison (OWASP ASVS 6.2: secrets are compared in constant time). Equal-length inputs are
 * compared with `crypto.timingSafeEqual`; a length difference answers false at once — callers compare digests, MACs
 * or hashes of fixed length, so the length reveals nothing.
 */
import { timingSafeEqual } from 'node:crypto';

/** Whether `a` and `b` hold the same bytes (strings as UTF-8), in time independent of where they differ. */
export function constantTimeEqual(a: Uint8Array | string, b: Uint8Array | string): boolean {
  const left = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
  const right = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  return left.length === right.length && timingSafeEqual(left, right);
}
