/** Runs a filter over a collection: index candidates when possible, then mingo's matcher, then sort/skip/limit. */
import type { Doc } from '../bson.ts';
import type { Collection } from '../collection.ts';
import { fail } from '../errors.ts';
import { compileFilter, sortDocs, type SortSpec } from '../matcher.ts';

export interface QueryShape {
  readonly filter: Doc;
  readonly sort?: SortSpec;
  readonly skip?: number;
  readonly limit?: number;
}

/** Matching documents (the stored objects: callers must not mutate them). */
export function runQuery(collection: Collection | undefined, shape: QueryShape): Doc[] {
  const match = compileFilter(shape.filter);
  if (!collection) return [];
  const skip = shape.skip ?? 0;
  const limit = shape.limit && shape.limit > 0 ? shape.limit : Number.POSITIVE_INFINITY;
  if (skip < 0) fail('BadValue', 'skip value must be non-negative');
  const natural = shape.sort?.length === 1 && shape.sort[0]?.[0] === '$natural' ? shape.sort[0][1] : undefined;
  const candidates = collection.candidates(shape.filter) ?? collection.all();
  const source = natural === -1 ? candidates.reverse() : candidates;
  const sorted = natural === undefined && shape.sort && shape.sort.length > 0;
  const matched: Doc[] = [];
  for (const doc of source) {
    if (!match(doc)) continue;
    matched.push(doc);
    if (!sorted && matched.length >= skip + limit) break;
  }
  const ordered = sorted ? sortDocs(matched, shape.sort ?? []) : matched;
  return ordered.slice(skip, limit === Number.POSITIVE_INFINITY ? undefined : skip + limit);
}
