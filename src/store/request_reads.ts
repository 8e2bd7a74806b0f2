/**
 * What one HTTP request has already read from MongoDB, so a document it needs again (oidc-provider reads a session by
 * uid twice in one interaction step; the token endpoint reads the code, its grant, its session and its account one
 * after the other) is not read twice, and the reads a request will make can be merged into its first one.
 *
 * The scope is one request (an `AsyncLocalStorage` opened by a middleware: {@link withRequestReads}); nothing is kept
 * between requests, so every request still reads what it uses from the database — none of this is shared state of
 * the process. Outside a scope every call here is a no-op and callers read as before.
 *
 * A caller that writes a document it may have read in the scope puts the new version in ({@link rememberRead}) or
 * forgets it ({@link forgetReads}).
 *
 * **Merged reads.** A scope may carry a planner ({@link ReadPlanner}): the first read of a request (by `_id`) asks it
 * which other documents the request will need — known by id (from the URL, a cookie, a parameter) or referenced by a
 * field of a joined document — and the read becomes one `aggregate` with a `$lookup` per document; each joined document
 * (or its absence) is remembered under its collection and key.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { mongo } from 'mongoose';

/**
 * A document the first read of a request fetches with it: by id (`id`), or by equality with a field of the document
 * it is joined to (`localField` → `foreignField`), the newest by `newest` when several match.
 */
export interface JoinedRead {
  readonly collection: string;
  /** The `_id` to fetch (a join that does not depend on the other documents). */
  readonly id?: string | undefined;
  /** The field of the parent document holding the key, and the field of this collection it equals (default `_id`). */
  readonly localField?: string;
  readonly foreignField?: string;
  /** With several matches, the newest by this field (descending) is taken. */
  readonly newest?: string;
  /** Documents joined to this one. */
  readonly joins?: readonly JoinedRead[];
}

/** What a request's first read fetches besides the document asked for. */
export type ReadPlanner = (collection: string, id: string) => readonly JoinedRead[] | undefined;

/**
 * What any read of a document of `collection` fetches with it (a factor's document of an account, read with the
 * account), when the planner did not plan that read.
 */
export type ReadAlong = (collection: string) => readonly JoinedRead[] | undefined;

type Found = mongo.Document | null;

/**
 * A deep copy of a document as the driver returns it: plain objects, arrays and dates are copied; BSON values (an
 * `ObjectId`, `Binary`, `Long` …) and primitives are immutable and kept as they are — with their types, which
 * `structuredClone` would lose — at a fraction of its cost.
 */
function copyOf<T>(value: T): T {
  if (Array.isArray(value)) return value.map(copyOf) as T;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (value !== null && typeof value === 'object') {
    const prototype: unknown = Object.getPrototypeOf(value);
    if (prototype === Object.prototype || prototype === null) {
      const copy: Record<string, unknown> = {};
      for (const key of Object.keys(value)) copy[key] = copyOf((value as Record<string, unknown>)[key]);
      return copy as T;
    }
  }
  return value;
}

class RequestReads {
  readonly #docs = new Map<string, Found>();
  planner: ReadPlanner | undefined;
  along: ReadAlong | undefined;
  planned = false;

  get(namespace: string, key: string): Found | undefined {
    const doc = this.#docs.get(`${namespace}\u0000${key}`);
    return doc === undefined ? undefined : doc && copyOf(doc);
  }

  /** Keeps a copy of `doc`; `owned`: keeps `doc` itself (nobody else holds it). */
  put(namespace: string, key: string, doc: Found, owned = false): void {
    this.#docs.set(`${namespace}\u0000${key}`, doc && !owned ? copyOf(doc) : doc);
  }

  forget(namespace: string): void {
    const prefix = `${namespace}\u0000`;
    for (const key of this.#docs.keys()) if (key.startsWith(prefix)) this.#docs.delete(key);
  }

  forgetAll(): void {
    this.#docs.clear();
  }
}

const storage = new AsyncLocalStorage<RequestReads>();

/**
 * Runs `next` (the rest of a request) in a read scope, with `planner` for its first read and `along` for the others.
 * Inside a scope already open (a middleware further out opened it) it only adds what is not set.
 */
export function withRequestReads<T>(next: () => Promise<T>, planner?: ReadPlanner, along?: ReadAlong): Promise<T> {
  const current = storage.getStore();
  if (current) {
    current.planner ??= planner;
    current.along ??= along;
    return next();
  }
  const scope = new RequestReads();
  scope.planner = planner;
  scope.along = along;
  return storage.run(scope, next);
}

function namespaceOf(db: mongo.Db, collection: string): string {
  return `${db.databaseName}.${collection}`;
}

/** The key a document is remembered under: the field read by and its value (no value of one field can pass for another's). */
function keyOf(field: string, value: unknown): string {
  return `${field}=${String(value)}`;
}

/**
 * What this request read of `collection` by `field` = `value` (default `_id`): the document, `null` (read, not found),
 * or `undefined` (not read in this request, or outside a scope).
 */
export function readBefore(db: mongo.Db, collection: string, value: string, field = '_id'): Found | undefined {
  return storage.getStore()?.get(namespaceOf(db, collection), keyOf(field, value));
}

/** Remembers a document this request read or wrote (`null`: it does not exist). */
export function rememberRead(db: mongo.Db, collection: string, value: string, doc: Found, field = '_id'): void {
  storage.getStore()?.put(namespaceOf(db, collection), keyOf(field, value), doc);
}

/** Forgets everything this request read of `collection` (after a write that may have changed any of it). */
export function forgetReads(db: mongo.Db, collection: string): void {
  storage.getStore()?.forget(namespaceOf(db, collection));
}

/**
 * Forgets everything this request read, so its next reads go to the database: for a decision taken under a lock (a
 * lease), which must see what the lock's previous holder left, never what the request read before it held the lock.
 */
export function forgetAllReads(): void {
  storage.getStore()?.forgetAll();
}

/** The `$lookup` stages of `joins`, their results in `_j0`, `_j1`, … */
function lookupsOf(joins: readonly JoinedRead[]): mongo.Document[] {
  return joins.map((join, i) => {
    const inner: mongo.Document[] = [
      ...(join.id !== undefined ? [{ $match: { _id: { $eq: join.id } } }] : []),
      ...(join.newest ? [{ $sort: { [join.newest]: -1 } }] : []),
      { $limit: 1 },
      ...lookupsOf(join.joins ?? []),
    ];
    const by = join.id !== undefined ? {} : { localField: join.localField, foreignField: join.foreignField ?? '_id' };
    return { $lookup: { from: join.collection, ...by, pipeline: inner, as: `_j${i}` } };
  });
}

function valueAt(doc: mongo.Document, path: string): unknown {
  let value: unknown = doc;
  for (const part of path.split('.')) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Remembers each joined document (or its absence) under its collection and key, then strips the join fields. */
function rememberJoined(db: mongo.Db, scope: RequestReads, parent: mongo.Document, joins: readonly JoinedRead[]): void {
  joins.forEach((join, i) => {
    const field = `_j${i}`;
    const [found] = (Array.isArray(parent[field]) ? parent[field] : []) as mongo.Document[];
    delete parent[field];
    if (found) rememberJoined(db, scope, found, join.joins ?? []);
    const key = join.id ?? (join.localField ? valueAt(parent, join.localField) : undefined);
    if (typeof key !== 'string') return;
    // A read by another field than `_id` answers a later read of that field; found, it answers one by `_id` too.
    const foreignField = join.id !== undefined ? '_id' : join.foreignField ?? '_id';
    // A joined document is handed to nobody but the scope, which copies it whenever it hands it out.
    scope.put(namespaceOf(db, join.collection), keyOf(foreignField, key), found ?? null, true);
    if (found && foreignField !== '_id') scope.put(namespaceOf(db, join.collection), keyOf('_id', found._id), found, true);
  });
}

/**
 * The request's read of the first document of `collection` whose `field` equals `value`, with `joins`: one command
 * (an `aggregate` with a `$lookup` per join when there are any). Remembers the document under the field and its `_id`,
 * and each joined document under its collection.
 */
async function readJoined(db: mongo.Db, scope: RequestReads, collection: string, field: string, value: string, joins: readonly JoinedRead[] | undefined): Promise<mongo.Document | null> {
  let doc: mongo.Document | null;
  if (joins && joins.length > 0) {
    const [first] = await db.collection(collection).aggregate([{ $match: { [field]: { $eq: value } } }, { $limit: 1 }, ...lookupsOf(joins)]).toArray();
    doc = first ?? null;
    if (doc) rememberJoined(db, scope, doc, joins);
  } else {
    doc = await db.collection(collection).findOne({ [field]: { $eq: value } });
  }
  const namespace = namespaceOf(db, collection);
  const kept = doc && copyOf(doc);
  scope.put(namespace, keyOf(field, value), kept, true);
  if (kept && field !== '_id') scope.put(namespace, keyOf('_id', kept._id), kept, true);
  return doc;
}

/**
 * Reads `collection`'s document `_id` = `id` for this request: from what it read before, else from the database — the
 * request's first read merged with what the planner says it will need next, a later one with what is read along with
 * any document of the collection. Outside a scope: one `findOne`.
 */
export async function readById<T extends mongo.Document>(db: mongo.Db, collection: string, id: string): Promise<T | null> {
  return readOneBy<T>(db, collection, '_id', id);
}

/**
 * Reads the first document of `collection` whose `field` equals `value` for this request, like {@link readById}
 * (a read by a unique field other than `_id`, such as an account's email).
 */
export async function readOneBy<T extends mongo.Document>(db: mongo.Db, collection: string, field: string, value: string): Promise<T | null> {
  const scope = storage.getStore();
  if (!scope) return db.collection<T>(collection).findOne({ [field]: { $eq: value } } as mongo.Filter<T>) as Promise<T | null>;
  const known = scope.get(namespaceOf(db, collection), keyOf(field, value));
  if (known !== undefined) return known as T | null;
  const first = !scope.planned && field === '_id' && scope.planner ? scope.planner(collection, value) : undefined;
  if (field === '_id') scope.planned = true;
  return await readJoined(db, scope, collection, field, value, first ?? scope.along?.(collection)) as T | null;
}
