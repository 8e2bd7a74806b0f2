/**
 * One collection: documents in insertion order plus its indexes (always `_id_`). Every write checks all unique
 * indexes before it touches anything, so a failed write leaves no trace. Stored documents are never mutated in
 * place: an update stores a new object, so cursors and callers holding the old one are unaffected.
 */
import { randomUUID } from 'node:crypto';
import { Binary, ObjectId, isPlainObject, type Doc } from './bson.ts';
import { fail } from './errors.ts';
import { Index, sameIndex, type IndexSpec } from './indexes.ts';
import { compareValues } from './values.ts';

const ID_INDEX: IndexSpec = { v: 2, key: { _id: 1 }, name: '_id_' };
/** `$in` lists larger than this are answered by a scan rather than per-value lookups. */
const MAX_LOOKUP_KEYS = 10_000;

/** Values an index can be probed with for equality (others fall back to a scan, which is always correct). */
function isProbeValue(value: unknown): boolean {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))
    || value instanceof Date || value instanceof ObjectId;
}

/** The equality values a filter requires for `field`, or `undefined` when it does not pin the field. */
function equalityValues(filter: Doc, field: string): unknown[] | undefined {
  // Every document has an `_id`, so `_id: null` matches only a null `_id` (elsewhere null also matches a missing field).
  const probe = field === '_id' ? (value: unknown): boolean => value === null || isProbeValue(value) : isProbeValue;
  if (Object.prototype.hasOwnProperty.call(filter, field)) {
    const cond = filter[field];
    if (probe(cond)) return [cond];
    if (isPlainObject(cond)) {
      const ops = Object.keys(cond);
      if (ops.length === 1 && ops[0] === '$eq' && probe(cond.$eq)) return [cond.$eq];
      if (ops.length === 1 && ops[0] === '$in' && Array.isArray(cond.$in) && cond.$in.length <= MAX_LOOKUP_KEYS
        && cond.$in.every(probe)) return cond.$in;
    }
  }
  if (Array.isArray(filter.$and)) {
    for (const clause of filter.$and) {
      if (!isPlainObject(clause)) continue;
      const found = equalityValues(clause, field);
      if (found) return found;
    }
  }
  return undefined;
}

export class Collection {
  readonly db: string;
  readonly name: string;
  readonly uuid: InstanceType<typeof Binary>;
  /** Documents by a sequence number, so that a replacement keeps its place in natural order. */
  private readonly docs = new Map<number, Doc>();
  private readonly seqOf = new WeakMap<Doc, number>();
  private nextSeq = 0;
  private readonly indexMap = new Map<string, Index>();

  constructor(db: string, name: string) {
    this.db = db;
    this.name = name;
    this.uuid = new Binary(Buffer.from(randomUUID().replace(/-/g, ''), 'hex'), Binary.SUBTYPE_UUID);
    this.indexMap.set(ID_INDEX.name, new Index(ID_INDEX));
  }

  get ns(): string { return `${this.db}.${this.name}`; }
  get size(): number { return this.docs.size; }
  get indexes(): Index[] { return [...this.indexMap.values()]; }

  /** All documents in natural (insertion) order. */
  all(): Doc[] { return [...this.docs.values()]; }

  /**
   * Documents that may match `filter`, found through an index when the filter pins every field of a complete
   * index by equality (or `$in`); `undefined` means "scan everything".
   */
  candidates(filter: Doc): Doc[] | undefined {
    let best: Doc[] | undefined;
    for (const index of this.indexMap.values()) {
      if (!index.complete) continue;
      const perField = index.fields.map((field) => equalityValues(filter, field));
      if (perField.some((v) => v === undefined)) continue;
      let combos: unknown[][] = [[]];
      for (const values of perField as unknown[][]) {
        combos = combos.flatMap((combo) => values.map((value) => [...combo, value]));
        if (combos.length > MAX_LOOKUP_KEYS) break;
      }
      if (combos.length > MAX_LOOKUP_KEYS) continue;
      // In the index's order, as MongoDB's index scan returns them: keys in BSON order (per field direction),
      // equal keys in insertion order (the record id's order, which an update keeps).
      if (combos.length > 1) {
        const directions = index.fields.map((field) => index.spec.key[field] ?? 1);
        combos.sort((x, y) => {
          for (let i = 0; i < directions.length; i++) {
            const c = compareValues(x[i], y[i]);
            if (c !== 0) return c * (directions[i] ?? 1);
          }
          return 0;
        });
      }
      const found = new Set<Doc>();
      for (const combo of combos) {
        const holders = index.lookup(index.lookupKey(combo));
        if (!holders) continue;
        if (holders instanceof Set && holders.size > 1) {
          for (const doc of [...holders].sort((a, b) => (this.seqOf.get(a) ?? 0) - (this.seqOf.get(b) ?? 0))) found.add(doc);
        } else {
          for (const doc of holders) found.add(doc);
        }
      }
      if (!best || found.size < best.length) best = [...found];
      if (best.length <= 1) break;
    }
    return best;
  }

  /** Adds a document (with `_id` already set); throws E11000 without side effects on a duplicate. */
  insert(doc: Doc): void {
    const keys = this.indexes.map((index) => index.check(doc, this.ns));
    this.indexes.forEach((index, i) => index.add(doc, keys[i]));
    const seq = this.nextSeq++;
    this.docs.set(seq, doc);
    this.seqOf.set(doc, seq);
  }

  /** Replaces a stored document by its new version; throws E11000 without side effects on a duplicate. */
  replace(stored: Doc, next: Doc): void {
    const keys = this.indexes.map((index) => index.check(next, this.ns, stored));
    for (const index of this.indexes) index.remove(stored);
    this.indexes.forEach((index, i) => index.add(next, keys[i]));
    const seq = this.seqOf.get(stored);
    if (seq === undefined) throw new Error('replace() of a document that is not stored');
    this.docs.set(seq, next);
    this.seqOf.delete(stored);
    this.seqOf.set(next, seq);
  }

  remove(doc: Doc): boolean {
    const seq = this.seqOf.get(doc);
    if (seq === undefined || !this.docs.delete(seq)) return false;
    this.seqOf.delete(doc);
    for (const index of this.indexes) index.remove(doc);
    return true;
  }

  getIndex(name: string): Index | undefined { return this.indexMap.get(name); }

  /** Creates an index; `false` when an identical one exists. Builds fail with E11000 on existing duplicates. */
  createIndex(spec: IndexSpec): boolean {
    const byName = this.indexMap.get(spec.name);
    if (byName) {
      if (sameIndex(byName.spec, spec)) return false;
      if (JSON.stringify(byName.spec.key) === JSON.stringify(spec.key)) {
        fail('IndexOptionsConflict', `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${JSON.stringify(spec)}, existing index: ${JSON.stringify(byName.spec)}`);
      }
      fail('IndexKeySpecsConflict', `An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: ${JSON.stringify(spec)}, existing index: ${JSON.stringify(byName.spec)}`);
    }
    for (const existing of this.indexMap.values()) {
      if (JSON.stringify(existing.spec.key) !== JSON.stringify(spec.key)) continue;
      if (sameIndex(existing.spec, spec)) fail('IndexOptionsConflict', `Index already exists with a different name: ${existing.name}`);
      if (JSON.stringify(existing.spec.partialFilterExpression ?? null) === JSON.stringify(spec.partialFilterExpression ?? null)) {
        fail('IndexOptionsConflict', `An equivalent index already exists with the same name but different options. Requested index: ${JSON.stringify(spec)}, existing index: ${JSON.stringify(existing.spec)}`);
      }
    }
    const index = new Index(spec);
    for (const doc of this.docs.values()) {
      index.check(doc, this.ns);
      index.add(doc);
    }
    this.indexMap.set(spec.name, index);
    return true;
  }

  dropIndex(name: string): void {
    if (name === '_id_') fail('InvalidOptions', 'cannot drop _id index');
    if (!this.indexMap.delete(name)) fail('IndexNotFound', `index not found with name [${name}]`);
  }

  /** Drops every index except `_id_`. */
  dropAllIndexes(): void {
    for (const name of [...this.indexMap.keys()]) if (name !== '_id_') this.indexMap.delete(name);
  }
}
