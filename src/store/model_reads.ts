/**
 * The request's reads (`request_reads.ts`) for documents of mongoose models: a document read by its model through
 * {@link readModelDocument} is read once per request and may have been fetched along with an earlier read of the request
 * (a factor's document with its account). Every write through a model whose schema has {@link forgetsRequestReads}
 * forgets what the request read of its collection, so a read after a write in the same request goes to the database
 * again (docs/OPERATIONS.md "Reads within one request").
 */
import type { Model, MongooseQueryMiddleware, Query, Schema } from 'mongoose';
import { forgetReads, readOneBy } from './request_reads.ts';

/** The writes of a model, as mongoose names its query middleware. */
const WRITES: MongooseQueryMiddleware[] = [
  'updateOne', 'updateMany', 'replaceOne', 'deleteOne', 'deleteMany',
  'findOneAndUpdate', 'findOneAndReplace', 'findOneAndDelete',
];

type AnyModel = Pick<Model<unknown>, 'db' | 'collection'>;

function forget(model: AnyModel): void {
  const { db } = model.db;
  if (db) forgetReads(db, model.collection.collectionName);
}

/**
 * A schema plugin: each write through the schema's models forgets, before it is sent and after it is answered, what
 * the request read of the collection (the document may have changed).
 */
export function forgetsRequestReads(schema: Schema): void {
  schema.pre(WRITES, function forgetBefore(this: Query<unknown, unknown>) { forget(this.model); });
  schema.post(WRITES, function forgetAfter(this: Query<unknown, unknown>) { forget(this.model); });
  schema.pre('save', function forgetBeforeSave() { forget(this.constructor as unknown as AnyModel); });
  schema.post('save', function forgetAfterSave() { forget(this.constructor as unknown as AnyModel); });
  schema.pre('insertMany', function forgetBeforeInsert(this: AnyModel) { forget(this); });
  schema.pre('bulkWrite', function forgetBeforeBulk(this: AnyModel) { forget(this); });
}

/**
 * Reads the document of `model`'s collection whose `field` (default `_id`) equals `value`, for this request: the
 * stored form, as `lean()` gives it. Outside a request's scope, or before the connection is open, one `findOne`.
 */
export async function readModelDocument<T>(model: Model<T>, value: string, field = '_id'): Promise<T | null> {
  const { db } = model.db;
  if (!db) return model.findOne({ [field]: { $eq: value } } as never).lean<T>();
  return readOneBy(db, model.collection.collectionName, field, value) as Promise<T | null>;
}
