/** Runs a filter over a collection: index candidates when possible, then mingo's matcher, then sort/skip/limit. */
import type { Doc } from '../bson.ts';
import type { Collection } from '../collection.ts';
import { fail } from '../errors.ts';
import { compileFilter, sortDocs, type SortSpec } from '../matcher.ts';

export interface QueryShape {
  readonly filter: Doc;
  readonly sort?: SortSpec;
  /** The order of a hinted index's key pattern, or `$natural` (what {@link checkHint} returns). */
  readonly hint?: SortSpec | undefined;
  readonly skip?: number;
  readonly limit?: number;
}

function naturalOf(spec: SortSpec | undefined): 1 | -1 | undefined {
  return spec?.length === 1 && spec[0]?.[0] === '$natural' ? spec[0][1] : undefined;
}

/**
 * Matching documents (the stored objects: callers must not mutate them). Without a sort they come in natural
 * order, or in the order of a hinted index's keys: MongoDB scans the hinted index, so documents come back in its
 * key order, equal keys in insertion order (a multikey index at each document's smallest key, largest for a
 * descending field, as a sort on that field orders it).
 */
export function runQuery(collection: Collection | undefined, shape: QueryShape): Doc[] {
  const match = compileFilter(shape.filter);
  if (!collection) return [];
  const skip = shape.skip ?? 0;
  const limit = shape.limit && shape.limit > 0 ? shape.limit : Number.POSITIVE_INFINITY;
  if (skip < 0) fail('BadValue', 'skip value must be non-negative');
  const hintNatural = naturalOf(shape.hint);
  const indexOrder = shape.hint && shape.hint.length > 0 && hintNatural === undefined ? shape.hint : undefined;
  const natural = naturalOf(shape.sort) ?? hintNatural;
  const sorted = naturalOf(shape.sort) === undefined && shape.sort && shape.sort.length > 0;
  // A $natural sort or hint is a collection scan in insertion order, or its reverse for -1
  // (https://www.mongodb.com/docs/manual/reference/operator/meta/natural/), and a hinted index orders equal keys
  // in natural order: both read the documents in natural order rather than through an equality lookup.
  const scan = indexOrder !== undefined || natural !== undefined;
  const candidates = (scan ? undefined : collection.candidates(shape.filter)) ?? collection.all();
  const source = natural === -1 ? candidates.reverse() : candidates;
  const ordered = sorted || indexOrder !== undefined;
  const matched: Doc[] = [];
  for (const doc of source) {
    if (!match(doc)) continue;
    matched.push(doc);
    if (!ordered && matched.length >= skip + limit) break;
  }
  const inIndexOrder = indexOrder ? sortDocs(matched, indexOrder) : matched;
  const result = sorted ? sortDocs(inIndexOrder, shape.sort ?? []) : inIndexOrder;
  return result.slice(skip, limit === Number.POSITIVE_INFINITY ? undefined : skip + limit);
}
