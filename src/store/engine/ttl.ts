/**
 * TTL indexes: a periodic sweep removes documents whose indexed date (the earliest, for arrays of dates) plus
 * `expireAfterSeconds` has passed, as MongoDB's TTL monitor does (it runs every 60 s by default; so does this).
 */
import type { Catalog } from './catalog.ts';
import { pathValues } from './values.ts';

export const DEFAULT_TTL_SWEEP_MS = 60_000;

/** Removes expired documents everywhere; returns how many were removed. */
export function sweepExpired(catalog: Catalog, nowMs: number): number {
  let removed = 0;
  for (const collection of catalog.allCollections()) {
    for (const index of collection.indexes) {
      const seconds = index.spec.expireAfterSeconds;
      const field = index.fields[0];
      if (seconds === undefined || field === undefined) continue;
      for (const doc of collection.all()) {
        const dates = pathValues(doc, field).values.filter((v): v is Date => v instanceof Date);
        if (dates.length === 0) continue;
        const earliest = Math.min(...dates.map((d) => d.getTime()));
        if (earliest + seconds * 1000 <= nowMs && collection.remove(doc)) removed += 1;
      }
    }
  }
  if (removed > 0) catalog.touch();
  return removed;
}
