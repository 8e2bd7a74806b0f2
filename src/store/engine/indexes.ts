/**
 * Secondary indexes: a hash map from the canonical key of the indexed values to the documents holding them.
 * Equality lookups (and `$in`) are O(1) per key; unique, sparse and partial indexes are enforced here.
 */
import { formatValue, isPlainObject, type Doc } from './bson.ts';
import { CommandError, fail } from './errors.ts';
import { compileFilter, type Matcher } from './matcher.ts';
import { keyOf, pathValues } from './values.ts';

/** An index as `listIndexes` reports it (and as `createIndexes` receives it). */
export interface IndexSpec {
  v: number;
  key: Record<string, 1 | -1>;
  name: string;
  unique?: boolean;
  sparse?: boolean;
  expireAfterSeconds?: number;
  partialFilterExpression?: Doc;
}

const SPEC_OPTIONS = new Set(['v', 'key', 'name', 'unique', 'sparse', 'expireAfterSeconds', 'partialFilterExpression', 'background', 'ns']);

/** Validates one entry of `createIndexes.indexes` and returns its normalised spec. */
export function parseIndexSpec(raw: unknown): IndexSpec {
  if (!isPlainObject(raw)) fail('TypeMismatch', 'index specification must be an object');
  for (const field of Object.keys(raw)) {
    if (!SPEC_OPTIONS.has(field)) {
      const hint = field === 'collation' || field === 'weights' || field === 'hidden' ? ' (not supported by the embedded engine)' : '';
      fail('CannotCreateIndex', `The field '${field}' is not valid for an index specification${hint}. Specification: ${formatValue(raw)}`);
    }
  }
  const key = raw.key;
  if (!isPlainObject(key) || Object.keys(key).length === 0) fail('CannotCreateIndex', "Index keys cannot be an empty field.");
  const normalisedKey: Record<string, 1 | -1> = {};
  for (const [field, direction] of Object.entries(key)) {
    const n = typeof direction === 'number' ? direction : Number.NaN;
    if (n !== 1 && n !== -1) {
      fail('CannotCreateIndex', `the embedded engine only supports ascending/descending index keys, got ${field}: ${formatValue(direction)}`);
    }
    normalisedKey[field] = n;
  }
  if (typeof raw.name !== 'string' || raw.name.length === 0) fail('CannotCreateIndex', 'index name must be a non-empty string');
  const spec: IndexSpec = { v: 2, key: normalisedKey, name: raw.name };
  if (raw.unique !== undefined && raw.unique !== null && raw.unique !== false) spec.unique = true;
  if (raw.sparse !== undefined && raw.sparse !== null && raw.sparse !== false) spec.sparse = true;
  if (raw.expireAfterSeconds !== undefined) {
    const seconds = raw.expireAfterSeconds;
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) fail('CannotCreateIndex', 'TTL index \'expireAfterSeconds\' option must be a non-negative number');
    if (Object.keys(normalisedKey).length !== 1) fail('CannotCreateIndex', 'TTL indexes are single-field indexes, compound indexes do not support TTL');
    spec.expireAfterSeconds = Math.floor(seconds);
  }
  if (raw.partialFilterExpression !== undefined) {
    if (!isPlainObject(raw.partialFilterExpression)) fail('CannotCreateIndex', 'partialFilterExpression must be an object');
    if (spec.sparse) fail('CannotCreateIndex', 'cannot mix "partialFilterExpression" and "sparse" options');
    spec.partialFilterExpression = raw.partialFilterExpression;
  }
  if (spec.name === '_id_' && (Object.keys(normalisedKey).join() !== '_id' || spec.unique === false)) {
    fail('CannotCreateIndex', 'The index name \'_id_\' is reserved for the _id index');
  }
  return spec;
}

/** True when two specs describe the same index (key, uniqueness, sparseness, TTL, partial filter). */
export function sameIndex(a: IndexSpec, b: IndexSpec): boolean {
  return JSON.stringify(a.key) === JSON.stringify(b.key) && Boolean(a.unique) === Boolean(b.unique)
    && Boolean(a.sparse) === Boolean(b.sparse) && a.expireAfterSeconds === b.expireAfterSeconds
    && JSON.stringify(a.partialFilterExpression ?? null) === JSON.stringify(b.partialFilterExpression ?? null);
}

interface IndexKey { readonly key: string; readonly values: readonly unknown[] }

export class Index {
  readonly spec: IndexSpec;
  readonly fields: readonly string[];
  private readonly partial: Matcher | undefined;
  /** Key → the document holding it, or a set when several do (a single object keeps unique indexes compact). */
  private readonly entries = new Map<string, Doc | Set<Doc>>();

  constructor(spec: IndexSpec) {
    this.spec = spec;
    this.fields = Object.keys(spec.key);
    this.partial = spec.partialFilterExpression ? compileFilter(spec.partialFilterExpression) : undefined;
  }

  get name(): string { return this.spec.name; }
  get unique(): boolean { return this.spec.unique === true || this.spec.name === '_id_'; }

  /** True when lookups through this index see every document that can match an equality on its fields. */
  get complete(): boolean { return !this.spec.sparse && !this.partial; }

  /** The keys a document contributes (none when a sparse/partial index skips it). */
  keysOf(doc: Doc): IndexKey[] {
    if (this.partial && !this.partial(doc)) return [];
    const perField = this.fields.map((field) => pathValues(doc, field));
    if (this.spec.sparse && perField.every(({ values }) => values.every((v) => v === undefined))) return [];
    const arrays = perField.filter((p) => p.isArray);
    if (arrays.length > 1) {
      const names = this.fields.filter((_, i) => perField[i]?.isArray).map((f) => `[${f}]`).join(' ');
      fail('CannotIndexParallelArrays', `cannot index parallel arrays ${names}`);
    }
    let combos: unknown[][] = [[]];
    for (const { values } of perField) {
      const next: unknown[][] = [];
      for (const combo of combos) for (const value of values) next.push([...combo, value]);
      combos = next;
    }
    const seen = new Map<string, IndexKey>();
    for (const values of combos) {
      const key = this.fields.length === 1 ? keyOf(values[0]) : values.map(keyOf).join('\u0000');
      if (!seen.has(key)) seen.set(key, { key, values });
    }
    return [...seen.values()];
  }

  /** The key for an equality lookup on every field of this index. */
  lookupKey(values: readonly unknown[]): string {
    return this.fields.length === 1 ? keyOf(values[0]) : values.map(keyOf).join('\u0000');
  }

  /** Documents stored under one key. */
  lookup(key: string): Iterable<Doc> | undefined {
    const held = this.entries.get(key);
    return held instanceof Set ? held : held ? [held] : undefined;
  }

  /**
   * Throws the E11000 error when `doc` would duplicate a key held by another document (`replacing` is the
   * stored version of the same document during an update). Returns the computed keys for {@link add}.
   */
  check(doc: Doc, ns: string, replacing?: Doc): IndexKey[] {
    const keys = this.keysOf(doc);
    if (!this.unique) return keys;
    for (const { key, values } of keys) {
      for (const holder of this.lookup(key) ?? []) {
        if (holder !== replacing && holder !== doc) throw this.duplicateError(ns, values);
      }
    }
    return keys;
  }

  /** The E11000 error for a key, worded as MongoDB does. */
  duplicateError(ns: string, values: readonly unknown[]): CommandError {
    const keyValue: Doc = {};
    this.fields.forEach((field, i) => { keyValue[field] = values[i] ?? null; });
    const shown = this.fields.map((field, i) => `${field}: ${formatValue(values[i])}`).join(', ');
    return new CommandError('DuplicateKey',
      `E11000 duplicate key error collection: ${ns} index: ${this.name} dup key: { ${shown} }`,
      { keyPattern: { ...this.spec.key }, keyValue });
  }

  add(doc: Doc, keys: readonly IndexKey[] = this.keysOf(doc)): void {
    for (const { key } of keys) {
      const held = this.entries.get(key);
      if (held === undefined) this.entries.set(key, doc);
      else if (held instanceof Set) held.add(doc);
      else if (held !== doc) this.entries.set(key, new Set([held, doc]));
    }
  }

  remove(doc: Doc): void {
    let keys: IndexKey[];
    try {
      keys = this.keysOf(doc);
    } catch {
      return;
    }
    for (const { key } of keys) {
      const held = this.entries.get(key);
      if (held === doc) {
        this.entries.delete(key);
      } else if (held instanceof Set) {
        held.delete(doc);
        if (held.size === 1) this.entries.set(key, held.values().next().value as Doc);
      }
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
