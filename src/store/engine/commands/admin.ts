/** Namespace and index commands: create/drop, list*, createIndexes/listIndexes/dropIndexes. */
import { formatValue, isPlainObject, type Doc } from '../bson.ts';
import { checkCollectionName } from '../catalog.ts';
import type { Collection } from '../collection.ts';
import { fail } from '../errors.ts';
import { parseIndexSpec } from '../indexes.ts';
import { compileFilter } from '../matcher.ts';
import { collectionName, defineCommand, optionalDoc, optionalInt, refuseCollation, type CommandContext, type CommandDef } from './context.ts';

function cursorBatchSize(cmd: Doc, name: string): number | undefined {
  const cursor = optionalDoc(cmd, 'cursor', name);
  return cursor ? optionalInt(cursor, 'batchSize', `${name}.cursor`) : undefined;
}

function describeCollection(collection: Collection): Doc {
  return {
    name: collection.name,
    type: 'collection',
    options: {},
    info: { readOnly: false, uuid: collection.uuid },
    idIndex: { v: 2, key: { _id: 1 }, name: '_id_' },
  };
}

function indexSpecDoc(collection: Collection, name: string): Doc {
  const index = collection.getIndex(name);
  if (!index) return {};
  return { ...index.spec, key: { ...index.spec.key } };
}

const create = defineCommand(['capped', 'size', 'max', 'validator', 'validationLevel', 'validationAction', 'viewOn',
  'pipeline', 'collation', 'timeseries', 'expireAfterSeconds', 'clusteredIndex', 'changeStreamPreAndPostImages',
  'storageEngine', 'indexOptionDefaults', 'idIndex', 'encryptedFields'], (cmd, ctx) => {
  const name = collectionName(cmd, 'create');
  for (const option of ['capped', 'validator', 'viewOn', 'pipeline', 'timeseries', 'expireAfterSeconds', 'clusteredIndex',
    'changeStreamPreAndPostImages', 'encryptedFields']) {
    const value = cmd[option];
    if (value !== undefined && value !== null && value !== false && !(isPlainObject(value) && Object.keys(value).length === 0)) {
      fail('NotImplemented', `create with '${option}' is not supported by the embedded engine`);
    }
  }
  refuseCollation(cmd.collation);
  ctx.catalog.create(ctx.db, name);
  return {};
});

const drop = defineCommand([], (cmd, ctx) => {
  const name = collectionName(cmd, 'drop');
  const dropped = ctx.catalog.drop(ctx.db, name);
  return dropped ? { nIndexesWas: dropped.indexes.length, ns: dropped.ns } : {};
});

const dropDatabase = defineCommand([], (_cmd, ctx) => {
  ctx.catalog.dropDatabase(ctx.db);
  return { dropped: ctx.db };
});

const listCollections = defineCommand(['filter', 'nameOnly', 'authorizedCollections', 'cursor'], (cmd, ctx) => {
  const filter = optionalDoc(cmd, 'filter', 'listCollections') ?? {};
  const match = compileFilter(filter);
  const nameOnly = cmd.nameOnly === true;
  const docs = ctx.catalog.collections(ctx.db).map(describeCollection).filter(match)
    .map((doc) => (nameOnly ? { name: doc.name, type: doc.type } : doc));
  return { cursor: ctx.cursors.open(`${ctx.db}.$cmd.listCollections`, docs, cursorBatchSize(cmd, 'listCollections')) };
});

const listDatabases = defineCommand(['filter', 'nameOnly', 'authorizedDatabases'], (cmd, ctx) => {
  const filter = optionalDoc(cmd, 'filter', 'listDatabases') ?? {};
  const match = compileFilter(filter);
  const databases = ctx.catalog.databaseNames()
    .map((name) => ({ name, sizeOnDisk: 0, empty: ctx.catalog.collections(name).every((c) => c.size === 0) }))
    .filter(match);
  if (cmd.nameOnly === true) return { databases: databases.map(({ name }) => ({ name })) };
  return { databases, totalSize: 0, totalSizeMb: 0 };
});

const createIndexes = defineCommand(['indexes', 'commitQuorum'], (cmd, ctx) => {
  const name = collectionName(cmd, 'createIndexes');
  if (!Array.isArray(cmd.indexes) || cmd.indexes.length === 0) fail('BadValue', 'Must specify at least one index to create');
  const specs = cmd.indexes.map(parseIndexSpec);
  checkCollectionName(ctx.db, name);
  const { collection, created } = ctx.catalog.ensure(ctx.db, name);
  const before = collection.indexes.length;
  let added = 0;
  for (const spec of specs) if (collection.createIndex(spec)) added += 1;
  ctx.catalog.touch();
  return {
    numIndexesBefore: before,
    numIndexesAfter: collection.indexes.length,
    createdCollectionAutomatically: created,
    ...(added === 0 ? { note: 'all indexes already exist' } : {}),
  };
});

const listIndexes = defineCommand(['cursor'], (cmd, ctx) => {
  const name = collectionName(cmd, 'listIndexes');
  const collection = ctx.catalog.get(ctx.db, name);
  if (!collection) fail('NamespaceNotFound', `ns does not exist: ${ctx.db}.${name}`);
  const docs = collection.indexes.map((index) => indexSpecDoc(collection, index.name));
  return { cursor: ctx.cursors.open(collection.ns, docs, cursorBatchSize(cmd, 'listIndexes')) };
});

function dropIndexesOf(ctx: CommandContext, collection: Collection, target: unknown): void {
  if (target === '*') {
    collection.dropAllIndexes();
    return;
  }
  if (typeof target === 'string') {
    collection.dropIndex(target);
    return;
  }
  if (Array.isArray(target)) {
    for (const name of target) {
      if (typeof name !== 'string') fail('TypeMismatch', 'dropIndexes names must be strings');
      if (!collection.getIndex(name)) fail('IndexNotFound', `index not found with name [${name}]`);
    }
    for (const name of target as string[]) collection.dropIndex(name);
    return;
  }
  if (isPlainObject(target)) {
    const index = collection.indexes.find((candidate) => JSON.stringify(candidate.spec.key) === JSON.stringify(target));
    if (!index) fail('IndexNotFound', `can't find index with key: ${formatValue(target)}`);
    collection.dropIndex(index.name);
    return;
  }
  fail('TypeMismatch', `dropIndexes 'index' must be a string, an array of strings or a key pattern (in ${ctx.db})`);
}

const dropIndexes = defineCommand(['index'], (cmd, ctx) => {
  const name = collectionName(cmd, 'dropIndexes');
  const collection = ctx.catalog.get(ctx.db, name);
  if (!collection) fail('NamespaceNotFound', `ns not found ${ctx.db}.${name}`);
  const before = collection.indexes.length;
  dropIndexesOf(ctx, collection, cmd.index);
  ctx.catalog.touch();
  return { nIndexesWas: before };
});

export const adminCommands: Record<string, CommandDef> = {
  create, drop, dropDatabase, listCollections, listDatabases, createIndexes, listIndexes, dropIndexes,
};
