/**
 * The one guard on account ids at the factor layer's entry points. An empty or non-string id is a programmer error
 * (the caller passes the session's `accountId`), so it throws instead of becoming a user-facing failure.
 */

/** Throws a `TypeError` unless `accountId` is a non-empty string. */
export function checkAccountId(accountId: unknown): asserts accountId is string {
  if (typeof accountId !== 'string' || accountId.length === 0) throw new TypeError('accountId must be a non-empty string');
}
