/** Read commands: find, getMore, killCursors, count, distinct, aggregate. */
import { Long, cloneValue, isPlainObject, type Doc } from '../bson.ts';
import { fail } from '../errors.ts';
import { checkFilter, parseSort, projectDocs, refuseForExpressions, runPipeline, sortDocs, type SortSpec } from '../matcher.ts';
import { compareValues, keyOf, pathValues } from '../values.ts';
import {
  collectionName, checkHint, defineCommand, optionalBool, optionalDoc, optionalInt, refuseCollation, refuseLet,
  type CommandContext, type CommandDef,
} from './context.ts';
import { runQuery } from './query_plan.ts';
import type { Collection } from '../collection.ts';

const find = defineCommand(['filter', 'sort', 'projection', 'skip', 'limit', 'batchSize', 'singleBatch', 'hint',
  'collation', 'let', 'allowDiskUse', 'noCursorTimeout', 'allowPartialResults', 'returnKey', 'showRecordId',
  'tailable', 'awaitData', 'min', 'max', 'oplogReplay', 'readOnce'], (cmd, ctx) => {
  const name = collectionName(cmd, 'find');
  for (const option of ['returnKey', 'showRecordId', 'tailable', 'awaitData', 'oplogReplay']) {
    if (optionalBool(cmd, option, 'find')) fail('NotImplemented', `find with '${option}' is not supported by the embedded engine`);
  }
  if (cmd.min !== undefined || cmd.max !== undefined) fail('NotImplemented', 'find with min/max index bounds is not supported by the embedded engine');
  refuseCollation(cmd.collation);
  refuseLet(cmd.let);
  const collection = ctx.catalog.get(ctx.db, name);
  const hint = checkHint(cmd.hint, collection);
  const filter = optionalDoc(cmd, 'filter', 'find') ?? {};
  const limit = optionalInt(cmd, 'limit', 'find');
  if (limit !== undefined && limit < 0) fail('BadValue', 'Limit value must be non-negative');
  const batchSize = optionalInt(cmd, 'batchSize', 'find');
  if (batchSize !== undefined && batchSize < 0) fail('BadValue', 'BatchSize value must be non-negative');
  const docs = runQuery(collection, {
    filter,
    sort: parseSort(optionalDoc(cmd, 'sort', 'find')),
    hint,
    skip: optionalInt(cmd, 'skip', 'find') ?? 0,
    ...(limit !== undefined ? { limit } : {}),
  });
  const projected = projectDocs(docs, optionalDoc(cmd, 'projection', 'find'), filter);
  const singleBatch = optionalBool(cmd, 'singleBatch', 'find');
  return { cursor: ctx.cursors.open(`${ctx.db}.${name}`, projected, batchSize, singleBatch) };
});

const getMore = defineCommand(['collection', 'batchSize', 'maxTimeMS'], (cmd, ctx) => {
  const id = cmd.getMore;
  const cursorId = id instanceof Long ? id : typeof id === 'number' ? Long.fromNumber(id) : undefined;
  if (!cursorId) fail('TypeMismatch', "BSON field 'getMore.getMore' is the wrong type, expected type 'long'");
  const name = collectionName(cmd, 'collection');
  const batchSize = optionalInt(cmd, 'batchSize', 'getMore');
  const cursor = ctx.cursors.more(cursorId, `${ctx.db}.${name}`, batchSize);
  if (!cursor) fail('CursorNotFound', `cursor id ${cursorId.toString()} not found`);
  return { cursor };
});

const killCursors = defineCommand(['cursors'], (cmd, ctx) => {
  if (!Array.isArray(cmd.cursors)) fail('TypeMismatch', "BSON field 'killCursors.cursors' is missing or not an array");
  const killed: unknown[] = [];
  const notFound: unknown[] = [];
  for (const id of cmd.cursors) {
    const cursorId = id instanceof Long ? id : Long.fromNumber(Number(id));
    (ctx.cursors.kill(cursorId) ? killed : notFound).push(cursorId);
  }
  return { cursorsKilled: killed, cursorsNotFound: notFound, cursorsAlive: [], cursorsUnknown: [] };
});

const count = defineCommand(['query', 'limit', 'skip', 'hint', 'collation', 'fields'], (cmd, ctx) => {
  const name = collectionName(cmd, 'count');
  refuseCollation(cmd.collation);
  const collection = ctx.catalog.get(ctx.db, name);
  checkHint(cmd.hint, collection);
  const filter = optionalDoc(cmd, 'query', 'count') ?? {};
  if (Object.keys(filter).length === 0 && !cmd.skip && !cmd.limit) {
    return { n: collection?.size ?? 0 };
  }
  const limit = optionalInt(cmd, 'limit', 'count');
  const docs = runQuery(collection, { filter, skip: optionalInt(cmd, 'skip', 'count') ?? 0, ...(limit ? { limit: Math.abs(limit) } : {}) });
  return { n: docs.length };
});

const distinct = defineCommand(['key', 'query', 'collation', 'hint'], (cmd, ctx) => {
  const name = collectionName(cmd, 'distinct');
  refuseCollation(cmd.collation);
  if (typeof cmd.key !== 'string' || cmd.key.length === 0) fail('TypeMismatch', "BSON field 'distinct.key' is missing or not a string");
  const key = cmd.key;
  const collection = ctx.catalog.get(ctx.db, name);
  checkHint(cmd.hint, collection);
  const docs = runQuery(collection, { filter: optionalDoc(cmd, 'query', 'distinct') ?? {} });
  const seen = new Map<string, unknown>();
  for (const doc of docs) {
    for (const value of pathValues(doc, key).values) {
      if (value === undefined) continue;
      const k = keyOf(value);
      if (!seen.has(k)) seen.set(k, value);
    }
  }
  return { values: [...seen.values()].sort(compareValues) };
});

const STAGES = new Set(['$match', '$group', '$sort', '$limit', '$skip', '$project', '$lookup', '$count', '$unwind',
  '$addFields', '$set', '$unset', '$replaceRoot', '$replaceWith', '$sortByCount', '$facet', '$bucket', '$sample', '$unionWith']);
const UNSUPPORTED_STAGES = new Set(['$out', '$merge', '$geoNear', '$changeStream', '$changeStreamSplitLargeEvent',
  '$collStats', '$indexStats', '$currentOp', '$listSessions', '$listLocalSessions', '$planCacheStats', '$search',
  '$searchMeta', '$vectorSearch', '$densify', '$fill', '$setWindowFields', '$redact', '$documents', '$graphLookup',
  '$bucketAuto', '$listSearchIndexes', '$shardedDataDistribution']);

/** Refuses stages the engine does not run, and checks every filter inside the pipeline. */
function checkPipeline(pipeline: unknown, where = 'aggregate'): Doc[] {
  if (!Array.isArray(pipeline)) fail('TypeMismatch', `'pipeline' option must be specified as an array (${where})`);
  for (const stage of pipeline) {
    if (!isPlainObject(stage) || Object.keys(stage).length !== 1) fail('FailedToParse', 'A pipeline stage specification object must contain exactly one field.');
    const [name, spec] = Object.entries(stage)[0] as [string, unknown];
    if (UNSUPPORTED_STAGES.has(name)) fail('NotImplemented', `the aggregation stage ${name} is not supported by the embedded engine`);
    if (!STAGES.has(name)) fail('UnrecognizedPipelineStage', `Unrecognized pipeline stage name: '${name}'`);
    if (name === '$match') {
      if (!isPlainObject(spec)) fail('TypeMismatch', 'the match filter must be an expression in an object');
      checkFilter(spec);
    } else if (name === '$lookup' && isPlainObject(spec) && spec.pipeline !== undefined) {
      checkPipeline(spec.pipeline, '$lookup');
    } else if (name === '$facet' && isPlainObject(spec)) {
      for (const sub of Object.values(spec)) checkPipeline(sub, '$facet');
    } else if (name === '$unionWith' && isPlainObject(spec) && spec.pipeline !== undefined) {
      checkPipeline(spec.pipeline, '$unionWith');
    } else if (name === '$sort') {
      parseSort(spec, '$sort');
    }
  }
  return pipeline as Doc[];
}

/**
 * mongoose's `countDocuments` is `[$match, $skip?, $limit?, { $group: { _id: 1, n: { $sum: 1 } } }]`: answered
 * directly, so counting works whatever the documents hold (mingo is not needed, nor its number semantics).
 */
function countShortcut(docs: Doc[], stages: Doc[]): Doc[] | undefined {
  let skip = 0;
  let limit = Number.POSITIVE_INFINITY;
  let at = 0;
  const stage = (name: string): unknown => (stages[at] && Object.keys(stages[at] as Doc)[0] === name ? (stages[at] as Doc)[name] : undefined);
  const skipValue = stage('$skip');
  if (typeof skipValue === 'number' && Number.isInteger(skipValue) && skipValue >= 0) { skip = skipValue; at += 1; }
  const limitValue = stage('$limit');
  if (typeof limitValue === 'number' && Number.isInteger(limitValue) && limitValue > 0) { limit = limitValue; at += 1; }
  const group = stage('$group');
  if (at !== stages.length - 1 || !isPlainObject(group)) return undefined;
  const keys = Object.keys(group);
  if (keys.length !== 2 || !keys.includes('_id')) return undefined;
  const id = group._id;
  const field = keys.find((k) => k !== '_id') as string;
  const acc = group[field];
  if ((id !== 1 && id !== null) || !isPlainObject(acc) || Object.keys(acc).length !== 1 || acc.$sum !== 1) return undefined;
  const n = Math.max(0, Math.min(limit, docs.length - skip));
  return n > 0 ? [{ _id: id, [field]: n }] : [];
}

/**
 * Stages other than a leading `$match`/`$sort`, the count shortcut and uncorrelated `$lookup` joins run in mingo,
 * which computes with JS numbers: documents holding values it would not keep as MongoDB does (Decimal128, int64,
 * whole-number doubles, `__proto__` fields) are refused rather than answered with changed types.
 */
function refuseForMingo(docs: Doc[]): void {
  for (const doc of docs) refuseForExpressions(doc, 'aggregation stages beyond $match and $sort');
}

function runAggregate(cmd: Doc, ctx: CommandContext, name: string): Doc[] {
  const pipeline = checkPipeline(cmd.pipeline);
  const collection = ctx.catalog.get(ctx.db, name);
  const hint = checkHint(cmd.hint, collection);
  return aggregateOver(collection, pipeline, ctx, optionalDoc(cmd, 'let', 'aggregate'), hint);
}

/** Runs a checked pipeline over a collection (or none: no documents). */
function aggregateOver(collection: Collection | undefined, pipeline: Doc[], ctx: CommandContext, variables: Doc | undefined,
  hint?: SortSpec): Doc[] {
  // A leading $match (and $sort) runs against the collection directly, so indexed equality stays O(1).
  let rest = pipeline;
  let filter: Doc = {};
  const first = rest[0];
  if (first && isPlainObject(first.$match)) {
    filter = first.$match;
    rest = rest.slice(1);
  }
  let docs = runQuery(collection, { filter, hint });
  const second = rest[0];
  if (second && '$sort' in second) {
    docs = sortDocs(docs, parseSort(second.$sort, '$sort'));
    rest = rest.slice(1);
  }
  if (rest.length === 0) return docs;
  const counted = countShortcut(docs, rest);
  if (counted) return counted;
  const resolver = (other: string): Doc[] => {
    const joined = ctx.catalog.get(ctx.db, other)?.all() ?? [];
    refuseForMingo(joined);
    return joined.map((doc) => cloneValue(doc));
  };
  // Stages up to each uncorrelated $lookup run in mingo; the $lookup itself runs here, through the joined
  // collection's indexes, instead of mingo's join over a copy of the whole joined collection.
  // An equality $lookup (localField/foreignField, without let) runs here too: per input document, one query through
  // the joined collection's indexes.
  let segment: Doc[] = [];
  for (const stage of rest) {
    const joined = uncorrelatedLookup(stage);
    const equality = joined ? undefined : equalityLookup(stage);
    if (!joined && !equality) {
      segment.push(stage);
      continue;
    }
    if (segment.length > 0) {
      refuseForMingo(docs);
      docs = runPipeline(docs, segment, resolver, variables);
    }
    segment = [];
    if (joined) {
      const found = aggregateOver(ctx.catalog.get(ctx.db, joined.from), joined.pipeline, ctx, variables);
      docs = docs.map((doc) => ({ ...doc, [joined.as]: found.map((one) => cloneValue(one)) }));
    } else if (equality) {
      const from = ctx.catalog.get(ctx.db, equality.from);
      docs = docs.map((doc) => {
        const found = aggregateOver(from, [{ $match: localMatch(doc, equality.localField, equality.foreignField) }, ...equality.pipeline], ctx, variables);
        return { ...doc, [equality.as]: found.map((one) => cloneValue(one)) };
      });
    }
  }
  if (segment.length === 0) return docs;
  refuseForMingo(docs);
  return runPipeline(docs, segment, resolver, variables);
}

/**
 * A `$lookup` whose sub-pipeline does not depend on the joining document (no `let`, no `localField`) and whose
 * result lands in a top-level field: it joins the same documents to every input document
 * (https://www.mongodb.com/docs/manual/reference/operator/aggregation/lookup/#join-conditions-and-subqueries-on-a-joined-collection),
 * so it runs once.
 */
function uncorrelatedLookup(stage: Doc): { from: string; pipeline: Doc[]; as: string } | undefined {
  const spec = stage.$lookup;
  if (!isPlainObject(spec)) return undefined;
  const { from, pipeline, as } = spec;
  const correlated = spec.let !== undefined || spec.localField !== undefined || spec.foreignField !== undefined;
  if (correlated || typeof from !== 'string' || !Array.isArray(pipeline) || typeof as !== 'string') return undefined;
  if (as.length === 0 || as.includes('.') || as.startsWith('$')) return undefined;
  return { from, pipeline: pipeline as Doc[], as };
}

/**
 * A `$lookup` joining by equality (`localField`/`foreignField`, optionally followed by a sub-pipeline, no `let`) whose
 * result lands in a top-level field: answered per input document by a query on the joined collection (through its
 * indexes) instead of mingo's join over a copy of the whole joined collection.
 */
function equalityLookup(stage: Doc): { from: string; localField: string; foreignField: string; pipeline: Doc[]; as: string } | undefined {
  const spec = stage.$lookup;
  if (!isPlainObject(spec) || spec.let !== undefined) return undefined;
  const { from, localField, foreignField, as } = spec;
  const pipeline = spec.pipeline ?? [];
  if (typeof from !== 'string' || typeof localField !== 'string' || typeof foreignField !== 'string' || typeof as !== 'string') return undefined;
  if (!Array.isArray(pipeline) || as.length === 0 || as.includes('.') || as.startsWith('$') || foreignField.startsWith('$')) return undefined;
  return { from, localField, foreignField, pipeline: pipeline as Doc[], as };
}

/**
 * The filter on the joined collection for one input document (MongoDB's rules: a missing or null local value matches
 * a null or missing foreign field; an array matches any of its elements).
 */
function localMatch(doc: Doc, localField: string, foreignField: string): Doc {
  const values = pathValues(doc, localField).values.map((value) => (value === undefined ? null : value));
  const distinct = [...new Map(values.map((value) => [keyOf(value), value])).values()];
  return distinct.length === 1 ? { [foreignField]: { $eq: distinct[0] } } : { [foreignField]: { $in: distinct } };
}

const aggregate = defineCommand(['pipeline', 'cursor', 'explain', 'allowDiskUse', 'collation', 'hint', 'let',
  'bypassDocumentValidation'], (cmd, ctx) => {
  if (cmd.aggregate === 1) fail('NotImplemented', 'database-level aggregation is not supported by the embedded engine');
  const name = collectionName(cmd, 'aggregate');
  if (optionalBool(cmd, 'explain', 'aggregate')) fail('NotImplemented', 'explain is not supported by the embedded engine');
  refuseCollation(cmd.collation);
  const cursor = optionalDoc(cmd, 'cursor', 'aggregate');
  if (!cursor) fail('FailedToParse', "The 'cursor' option is required, except for aggregate with the explain argument");
  const docs = runAggregate(cmd, ctx, name);
  return { cursor: ctx.cursors.open(`${ctx.db}.${name}`, docs, optionalInt(cursor, 'batchSize', 'aggregate.cursor')) };
});

export const readCommands: Record<string, CommandDef> = { find, getMore, killCursors, count, distinct, aggregate };
