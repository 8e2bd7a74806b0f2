/**
 * Write commands: insert, update, delete, findAndModify. Each statement is atomic (the engine runs one command
 * at a time and checks every unique index before changing anything); `ordered: false` keeps going after a
 * failed statement and reports each failure with its index, as MongoDB does.
 */
import { BSON, ObjectId, isPlainObject, type Doc } from '../bson.ts';
import type { Collection } from '../collection.ts';
import { fail, toCommandError } from '../errors.ts';
import { parseSort, projectDocs } from '../matcher.ts';
import { checkArrayFilters, checkId, parseUpdate, updatedDocument, upsertDocument } from '../update.ts';
import { identical } from '../values.ts';
import {
  checkFields, checkHint, collectionName, defineCommand, optionalBool, optionalDoc, refuseCollation, refuseLet,
  type CommandContext, type CommandDef,
} from './context.ts';
import { MAX_BSON_OBJECT_BYTES } from '../wire.ts';
import { runQuery } from './query_plan.ts';

function statements(cmd: Doc, field: string, name: string): Doc[] {
  const value = cmd[field];
  if (!Array.isArray(value)) fail('TypeMismatch', `BSON field '${name}.${field}' is missing or not an array`);
  for (const item of value) if (!isPlainObject(item)) fail('TypeMismatch', `BSON field '${name}.${field}' must contain documents`);
  return value as Doc[];
}

/** Runs statements in order, collecting `writeErrors`; stops at the first error when ordered. */
function eachStatement(items: Doc[], ordered: boolean, run: (item: Doc, index: number) => void): Doc[] {
  const writeErrors: Doc[] = [];
  for (let i = 0; i < items.length; i++) {
    try {
      run(items[i] as Doc, i);
    } catch (err) {
      writeErrors.push(toCommandError(err).toWriteError(i));
      if (ordered) break;
    }
  }
  return writeErrors;
}

function withId(doc: Doc): Doc {
  const size = BSON.calculateObjectSize(doc);
  if (size > MAX_BSON_OBJECT_BYTES) fail('BadValue', `object to insert too large. size in bytes: ${size}, max size: ${MAX_BSON_OBJECT_BYTES}`);
  if ('_id' in doc && doc._id !== undefined) {
    checkId(doc._id);
    if (Object.keys(doc)[0] === '_id') return doc;
    const { _id, ...rest } = doc;
    return { _id, ...rest };
  }
  return { _id: new ObjectId(), ...doc };
}

function writeResult(n: number, writeErrors: Doc[], extra: Doc = {}): Doc {
  return { n, ...extra, ...(writeErrors.length ? { writeErrors } : {}) };
}

const insert = defineCommand(['documents', 'ordered', 'bypassDocumentValidation', 'let'], (cmd, ctx) => {
  const name = collectionName(cmd, 'insert');
  const docs = statements(cmd, 'documents', 'insert');
  const ordered = cmd.ordered !== false;
  let collection: Collection | undefined;
  let n = 0;
  const writeErrors = eachStatement(docs, ordered, (raw) => {
    const doc = withId(raw);
    collection ??= ctx.catalog.ensure(ctx.db, name).collection;
    collection.insert(doc);
    n += 1;
  });
  if (n > 0) ctx.catalog.touch();
  return writeResult(n, writeErrors);
});

const UPDATE_STATEMENT_FIELDS = ['q', 'u', 'upsert', 'multi', 'arrayFilters', 'collation', 'hint', 'c', 'upsertSupplied'];

function arrayFiltersOf(value: unknown): Doc[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every(isPlainObject)) fail('TypeMismatch', 'arrayFilters must be an array of objects');
  return value as Doc[];
}

const update = defineCommand(['updates', 'ordered', 'bypassDocumentValidation', 'let'], (cmd, ctx) => {
  const name = collectionName(cmd, 'update');
  refuseLet(cmd.let);
  const items = statements(cmd, 'updates', 'update');
  const ordered = cmd.ordered !== false;
  let n = 0;
  let nModified = 0;
  const upserted: Doc[] = [];
  const writeErrors = eachStatement(items, ordered, (stmt, index) => {
    checkFields(stmt, UPDATE_STATEMENT_FIELDS, 'update.updates');
    refuseCollation(stmt.collation);
    refuseLet(stmt.c);
    const filter = optionalDoc(stmt, 'q', 'update.updates') ?? {};
    const spec = parseUpdate(stmt.u);
    const multi = optionalBool(stmt, 'multi', 'update.updates');
    const upsert = optionalBool(stmt, 'upsert', 'update.updates');
    const arrayFilters = arrayFiltersOf(stmt.arrayFilters);
    checkArrayFilters(spec, arrayFilters);
    if (multi && spec.kind === 'replace') fail('FailedToParse', 'multi update is not supported for replacement-style update');
    let collection = ctx.catalog.get(ctx.db, name);
    const hint = checkHint(stmt.hint, collection);
    const matched = runQuery(collection, { filter, hint, ...(multi ? {} : { limit: 1 }) });
    for (const stored of matched) {
      const next = updatedDocument(stored, spec, filter, arrayFilters);
      n += 1;
      if (!identical(next, stored)) {
        (collection as Collection).replace(stored, next);
        nModified += 1;
        ctx.catalog.touch();
      }
    }
    if (matched.length === 0 && upsert) {
      const doc = upsertDocument(spec, filter, arrayFilters);
      collection ??= ctx.catalog.ensure(ctx.db, name).collection;
      collection.insert(doc);
      ctx.catalog.touch();
      n += 1;
      upserted.push({ index, _id: doc._id });
    }
  });
  return writeResult(n, writeErrors, { nModified, ...(upserted.length ? { upserted } : {}) });
});

const del = defineCommand(['deletes', 'ordered', 'let'], (cmd, ctx) => {
  const name = collectionName(cmd, 'delete');
  refuseLet(cmd.let);
  const items = statements(cmd, 'deletes', 'delete');
  let n = 0;
  const writeErrors = eachStatement(items, cmd.ordered !== false, (stmt) => {
    checkFields(stmt, ['q', 'limit', 'collation', 'hint'], 'delete.deletes');
    refuseCollation(stmt.collation);
    const filter = optionalDoc(stmt, 'q', 'delete.deletes') ?? {};
    const limit = stmt.limit;
    if (limit !== 0 && limit !== 1) fail('FailedToParse', 'The limit field in delete objects must be 0 or 1');
    const collection = ctx.catalog.get(ctx.db, name);
    const hint = checkHint(stmt.hint, collection);
    for (const doc of runQuery(collection, { filter, hint, ...(limit === 1 ? { limit: 1 } : {}) })) {
      if (collection?.remove(doc)) n += 1;
    }
    if (n > 0) ctx.catalog.touch();
  });
  return writeResult(n, writeErrors);
});

function findAndModifyRun(cmd: Doc, ctx: CommandContext, name: string): Doc {
  refuseCollation(cmd.collation);
  refuseLet(cmd.let);
  const filter = optionalDoc(cmd, 'query', 'findAndModify') ?? {};
  const remove = optionalBool(cmd, 'remove', 'findAndModify');
  const returnNew = optionalBool(cmd, 'new', 'findAndModify');
  const upsert = optionalBool(cmd, 'upsert', 'findAndModify');
  const fields = optionalDoc(cmd, 'fields', 'findAndModify');
  const hasUpdate = cmd.update !== undefined && cmd.update !== null;
  if (remove && hasUpdate) fail('FailedToParse', 'Cannot specify both an update and remove=true');
  if (remove && (upsert || returnNew)) fail('FailedToParse', 'Cannot specify either new=true or upsert=true with remove=true');
  if (!remove && !hasUpdate) fail('FailedToParse', 'Either an update or remove=true must be specified');
  const arrayFilters = arrayFiltersOf(cmd.arrayFilters);
  if (remove && arrayFilters) fail('FailedToParse', 'Cannot specify arrayFilters and remove=true');
  let collection = ctx.catalog.get(ctx.db, name);
  const hint = checkHint(cmd.hint, collection);
  const spec = hasUpdate ? parseUpdate(cmd.update) : undefined;
  if (spec) checkArrayFilters(spec, arrayFilters);
  const [stored] = runQuery(collection, { filter, sort: parseSort(optionalDoc(cmd, 'sort', 'findAndModify')), hint, limit: 1 });
  const shape = (doc: Doc | undefined): Doc | null => (doc ? (projectDocs([doc], fields, filter)[0] ?? null) : null);
  if (remove) {
    if (!stored) return { lastErrorObject: { n: 0 }, value: null };
    collection?.remove(stored);
    ctx.catalog.touch();
    return { lastErrorObject: { n: 1 }, value: shape(stored) };
  }
  const updateSpec = spec as NonNullable<typeof spec>;
  if (stored) {
    const next = updatedDocument(stored, updateSpec, filter, arrayFilters);
    if (!identical(next, stored)) {
      (collection as Collection).replace(stored, next);
      ctx.catalog.touch();
    }
    return { lastErrorObject: { n: 1, updatedExisting: true }, value: shape(returnNew ? next : stored) };
  }
  if (!upsert) return { lastErrorObject: { n: 0, updatedExisting: false }, value: null };
  const doc = upsertDocument(updateSpec, filter, arrayFilters);
  collection ??= ctx.catalog.ensure(ctx.db, name).collection;
  collection.insert(doc);
  ctx.catalog.touch();
  return { lastErrorObject: { n: 1, updatedExisting: false, upserted: doc._id }, value: returnNew ? shape(doc) : null };
}

const findAndModify = defineCommand(['query', 'sort', 'remove', 'update', 'new', 'fields', 'upsert', 'arrayFilters',
  'bypassDocumentValidation', 'collation', 'hint', 'let'], (cmd, ctx) => {
  const name = collectionName(cmd, Object.keys(cmd)[0] as string);
  return findAndModifyRun(cmd, ctx, name);
});

export const writeCommands: Record<string, CommandDef> = {
  insert, update, delete: del, findAndModify, findandmodify: findAndModify,
};
