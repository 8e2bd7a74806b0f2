/**
 * mingo, configured as MongoDB behaves: one operator context shared by queries, projections and pipelines,
 * with `$sort` replaced by MongoDB's cross-type ordering, scripts disabled, and filters checked first so that
 * operators mingo gets wrong (or lacks) are refused instead of answered silently wrong.
 */
import { Context, ProcessingMode } from 'mingo';
import { evalExpr } from 'mingo/core';
import { Aggregator } from 'mingo/aggregator';
import { Lazy, type Iterator as LazyIterator } from 'mingo/lazy';
import * as accumulatorOperators from 'mingo/operators/accumulator';
import * as expressionOperators from 'mingo/operators/expression';
import * as pipelineOperators from 'mingo/operators/pipeline';
import * as projectionOperators from 'mingo/operators/projection';
import * as queryOperators from 'mingo/operators/query';
import { Query } from 'mingo/query';
import type { Options } from 'mingo/types';
import { Binary, Decimal128, Long, MaxKey, MinKey, ObjectId, Timestamp, isPlainObject, type Doc } from './bson.ts';
import { fail } from './errors.ts';
import { compareValues, sortKeyOf, typeRank } from './values.ts';

export type Matcher = (doc: Doc) => boolean;
export type SortSpec = ReadonlyArray<readonly [string, 1 | -1]>;

/** Sorts documents by a parsed sort spec with MongoDB's ordering (stable, like an index scan). */
export function sortDocs<T extends Doc>(docs: T[], spec: SortSpec): T[] {
  if (spec.length === 0) return docs;
  const keyed = docs.map((doc, i) => ({ doc, i, keys: spec.map(([path, dir]) => sortKeyOf(doc, path, dir)) }));
  if (keyed.some(({ keys }) => keys.some((key) => key instanceof Decimal128))) {
    fail('NotImplemented', 'the embedded engine does not order Decimal128 values; use MongoDB for decimal sorting');
  }
  keyed.sort((a, b) => {
    for (let k = 0; k < spec.length; k++) {
      const c = compareValues(a.keys[k], b.keys[k]);
      if (c !== 0) return c * (spec[k]?.[1] ?? 1);
    }
    return a.i - b.i;
  });
  return keyed.map(({ doc }) => doc);
}

/** Parses a `sort` document (`{ field: 1 | -1 }`); `$meta` and other forms are refused. */
export function parseSort(raw: unknown, where = 'sort'): SortSpec {
  if (raw === undefined || raw === null) return [];
  if (!isPlainObject(raw)) fail('TypeMismatch', `${where} must be an object`);
  return Object.entries(raw).map(([path, dir]) => {
    const n = typeof dir === 'number' ? dir : typeof dir === 'object' && dir !== null && 'valueOf' in dir ? Number(dir.valueOf()) : Number.NaN;
    if (n !== 1 && n !== -1) {
      if (isPlainObject(dir)) fail('NotImplemented', `the embedded engine does not support ${where} on ${path}: ${JSON.stringify(dir)}`);
      fail('BadValue', `${where} key ordering must be 1 (for ascending) or -1 (for descending)`);
    }
    return [path, n] as const;
  });
}

function sortStage(coll: LazyIterator, expr: unknown): LazyIterator {
  const spec = parseSort(expr, '$sort');
  if (spec.length === 0) fail('BadValue', '$sort stage must have at least one sort key');
  return coll.transform((docs: Doc[]) => Lazy(sortDocs(docs, spec)));
}

/** BSON type tests for `$type` (mingo's cannot see ObjectId, Binary, … nor array elements). */
const TYPE_TESTS = new Map<string | number, (value: unknown) => boolean>();
const typeTest = (aliases: ReadonlyArray<string | number>, test: (value: unknown) => boolean): void => {
  for (const alias of aliases) TYPE_TESTS.set(alias, test);
};
typeTest(['number'], (v) => typeof v === 'number' || v instanceof Long || v instanceof Decimal128);
typeTest(['string', 2], (v) => typeof v === 'string');
typeTest(['object', 3], (v) => isPlainObject(v));
typeTest(['array', 4], (v) => Array.isArray(v));
typeTest(['binData', 5], (v) => v instanceof Binary);
typeTest(['objectId', 7], (v) => v instanceof ObjectId);
typeTest(['bool', 8], (v) => typeof v === 'boolean');
typeTest(['date', 9], (v) => v instanceof Date);
typeTest(['null', 10], (v) => v === null);
typeTest(['regex', 11], (v) => v instanceof RegExp);
typeTest(['timestamp', 17], (v) => v instanceof Timestamp);
typeTest(['decimal', 19], (v) => v instanceof Decimal128);
typeTest(['minKey', -1], (v) => v instanceof MinKey);
typeTest(['maxKey', 127], (v) => v instanceof MaxKey);

/** The values `$type` looks at: the field itself and, for an array, each of its elements. */
function typeCandidates(value: unknown, parts: readonly string[], at: number, out: unknown[]): void {
  if (at === parts.length) {
    if (value === undefined) return;
    out.push(value);
    if (Array.isArray(value)) out.push(...value);
    return;
  }
  const part = parts[at] as string;
  if (Array.isArray(value)) {
    if (/^\d+$/.test(part)) typeCandidates(value[Number(part)], parts, at + 1, out);
    else for (const item of value) typeCandidates(item, parts, at, out);
  } else if (isPlainObject(value)) {
    typeCandidates(value[part], parts, at + 1, out);
  }
}

function typeOperator(selector: string, value: unknown): (doc: Doc) => boolean {
  const tests = (Array.isArray(value) ? value : [value]).map((alias) => TYPE_TESTS.get(alias as string | number));
  const parts = selector.split('.');
  return (doc) => {
    const candidates: unknown[] = [];
    typeCandidates(doc, parts, 0, candidates);
    return candidates.some((candidate) => tests.some((test) => test?.(candidate)));
  };
}

/** Aggregation-expression comparisons with MongoDB's cross-type order (a missing value sorts below null). */
function expressionComparison(name: string, test: (order: number) => boolean | number) {
  return (obj: unknown, expr: unknown, options: unknown): boolean | number => {
    if (!Array.isArray(expr) || expr.length !== 2) fail('BadValue', `Expression ${name} takes exactly 2 arguments. ${Array.isArray(expr) ? expr.length : 1} were passed in.`);
    const [a, b] = evalExpr(obj, expr, options as never) as [unknown, unknown];
    if (a === undefined || b === undefined) return test(a === b ? 0 : a === undefined ? -1 : 1);
    return test(compareValues(a, b));
  };
}

const EXPRESSION_COMPARISONS = {
  $eq: expressionComparison('$eq', (c) => c === 0),
  $ne: expressionComparison('$ne', (c) => c !== 0),
  $gt: expressionComparison('$gt', (c) => c > 0),
  $gte: expressionComparison('$gte', (c) => c >= 0),
  $lt: expressionComparison('$lt', (c) => c < 0),
  $lte: expressionComparison('$lte', (c) => c <= 0),
  $cmp: expressionComparison('$cmp', (c) => Math.sign(c)),
};

/**
 * `$gt`/`$gte`/`$lt`/`$lte` as MongoDB evaluates them: the field (or any element of an array field) compared
 * within the operand's type bracket, numbers of every width together (mingo compares same-class values only,
 * so a 64-bit Long never matches a number range). `$gte`/`$lte: null` also match a missing field.
 */
function rangeOperator(test: (order: number) => boolean) {
  return (selector: string, operand: unknown): ((doc: Doc) => boolean) => {
    const parts = selector.split('.');
    const bracket = typeRank(operand);
    return (doc) => {
      const candidates: unknown[] = [];
      typeCandidates(doc, parts, 0, candidates);
      if (operand === null && test(0) && (candidates.length === 0 || candidates.includes(null))) return true;
      return candidates.some((value) => value !== undefined && typeRank(value) === bracket && test(compareValues(value, operand)));
    };
  };
}

const RANGE_QUERY_OPERATORS = {
  $gt: rangeOperator((c) => c > 0),
  $gte: rangeOperator((c) => c >= 0),
  $lt: rangeOperator((c) => c < 0),
  $lte: rangeOperator((c) => c <= 0),
};

/**
 * `$all` as MongoDB defines it (https://www.mongodb.com/docs/manual/reference/operator/query/all/): `{f: {$all: [a, b]}}`
 * is `{$and: [{f: a}, {f: b}]}`, each value (or `$elemMatch`) matched like an equality — so a field that is not an
 * array matches when it equals every value — and an empty list matches nothing. mingo's own `$all` needs an array.
 */
function allOperator(selector: string, value: unknown): (doc: unknown) => boolean {
  if (!Array.isArray(value) || value.length === 0) return () => false;
  const clauses = value.map((item: unknown) => ({ [selector]: isPlainObject(item) && '$elemMatch' in item ? item : { $eq: item } }));
  const query = new Query({ $and: clauses }, QUERY_OPTIONS);
  return (doc) => query.test(doc as Doc);
}

const CONTEXT = Context.init({
  accumulator: accumulatorOperators,
  expression: { ...expressionOperators, ...EXPRESSION_COMPARISONS },
  pipeline: { ...pipelineOperators, $sort: sortStage },
  projection: projectionOperators,
  query: { ...queryOperators, ...RANGE_QUERY_OPERATORS, $type: typeOperator, $all: allOperator },
} as never);

/**
 * mingo copies its whole operator context (hundreds of operators) whenever it is handed plain options, i.e. on
 * every `new Query`; handed its own `ComputeOptions` instance it does not. That class is not exported, so one
 * probe query captures an instance and the prepared options are reused for every filter (≈5× faster lookups).
 */
const QUERY_OPTIONS: Partial<Options> = (() => {
  let captured: unknown;
  const probe = Context.init({ query: { $probe: (_selector: string, _value: unknown, options: unknown) => { captured = options; return () => true; } } } as never);
  new Query({ x: { $probe: 1 } } as never, { context: probe });
  const ComputeOptions = (captured as { constructor: { init(options: Partial<Options>): Partial<Options> } }).constructor;
  return ComputeOptions.init(mingoOptions());
})();

/** mingo options; `collectionResolver` serves `$lookup`. */
export function mingoOptions(collectionResolver?: (name: string) => Doc[]): Partial<Options> {
  return {
    context: CONTEXT,
    idKey: '_id',
    useStrictMode: true,
    scriptEnabled: false,
    failOnError: true,
    processingMode: ProcessingMode.CLONE_OFF,
    ...(collectionResolver ? { collectionResolver } : {}),
  };
}

const FIELD_OPERATORS = new Set([
  '$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$type', '$regex', '$options', '$not',
  '$elemMatch', '$size', '$all', '$mod', '$bitsAllSet', '$bitsAllClear', '$bitsAnySet', '$bitsAnyClear',
]);
const RANGE_OPERATORS = new Set(['$gt', '$gte', '$lt', '$lte']);
const TOP_LEVEL_OPERATORS = new Set(['$and', '$or', '$nor', '$expr', '$comment']);
const REFUSED_OPERATORS: Record<string, string> = {
  $where: '$where (server-side JavaScript) is not supported by the embedded engine',
  $text: '$text needs a text index, which the embedded engine does not support',
  $jsonSchema: '$jsonSchema is not supported by the embedded engine',
  $near: 'geospatial queries are not supported by the embedded engine',
  $nearSphere: 'geospatial queries are not supported by the embedded engine',
  $geoWithin: 'geospatial queries are not supported by the embedded engine',
  $geoIntersects: 'geospatial queries are not supported by the embedded engine',
  $sampleRate: '$sampleRate is not supported by the embedded engine',
};

/** Decimal128 equality and order differ between mingo (string form) and MongoDB (numeric value): refused. */
function checkOperand(op: string, value: unknown, path: string): void {
  if (value instanceof Decimal128) {
    fail('NotImplemented', `the embedded engine does not compare Decimal128 values (${path} ${op}); use MongoDB for decimal queries`);
  }
  if (Array.isArray(value)) for (const item of value) checkOperand(op, item, path);
  else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) checkOperand(op, v, `${path}.${k}`);
}

function checkFieldExpression(path: string, expr: unknown): void {
  if (!isPlainObject(expr) || !Object.keys(expr).some((k) => k.startsWith('$'))) {
    checkOperand('$eq', expr, path);
    return;
  }
  for (const [op, operand] of Object.entries(expr)) {
    const refused = REFUSED_OPERATORS[op];
    if (refused) fail('NotImplemented', refused);
    if (!FIELD_OPERATORS.has(op)) fail('BadValue', `unknown operator: ${op}`);
    if (op === '$type') {
      for (const alias of Array.isArray(operand) ? operand : [operand]) {
        if (!TYPE_TESTS.has(alias as string | number)) {
          fail('NotImplemented', `the embedded engine does not support $type: ${JSON.stringify(alias)} (it does not keep int, long and double apart)`);
        }
      }
    } else if (op === '$not') {
      if (operand instanceof RegExp) continue;
      if (!isPlainObject(operand)) fail('BadValue', '$not needs a regex or a document');
      checkFieldExpression(path, operand);
    } else if (op === '$elemMatch') {
      if (!isPlainObject(operand)) fail('BadValue', '$elemMatch needs an Object');
      const keys = Object.keys(operand);
      if (keys.length > 0 && keys.every((k) => k.startsWith('$') && !TOP_LEVEL_OPERATORS.has(k))) checkFieldExpression(path, operand);
      else checkFilter(operand);
    } else if (op === '$in' || op === '$nin' || op === '$all') {
      if (!Array.isArray(operand)) fail('BadValue', `${op} needs an array`);
      checkOperand(op, operand, path);
    } else if (RANGE_OPERATORS.has(op) || op === '$eq' || op === '$ne') {
      checkOperand(op, operand, path);
    }
  }
}

/** Checks a `$pull` condition (a value, a field expression, or a filter on array elements). */
export function checkCondition(path: string, condition: unknown): void {
  if (isPlainObject(condition) && Object.keys(condition).length > 0 && Object.keys(condition).every((k) => !k.startsWith('$'))) {
    checkFilter(condition);
  } else {
    checkFieldExpression(path, condition);
  }
}

/** Refuses filters mingo would answer differently from MongoDB (throws a MongoDB-style error). */
export function checkFilter(filter: unknown): void {
  if (!isPlainObject(filter)) fail('TypeMismatch', 'filter must be an object');
  for (const [key, value] of Object.entries(filter)) {
    if (key.startsWith('$')) {
      const refused = REFUSED_OPERATORS[key];
      if (refused) fail('NotImplemented', refused);
      if (!TOP_LEVEL_OPERATORS.has(key)) fail('BadValue', `unknown top level operator: ${key}`);
      if (key === '$and' || key === '$or' || key === '$nor') {
        if (!Array.isArray(value) || value.length === 0) fail('BadValue', `${key} must be a nonempty array`);
        for (const clause of value) checkFilter(clause);
      }
      continue;
    }
    checkFieldExpression(key, value);
  }
}

/** Checks and compiles a filter. */
export function compileFilter(filter: Doc): Matcher {
  checkFilter(filter);
  const { $comment: _comment, ...rest } = filter;
  if (Object.keys(rest).length === 0) return () => true;
  const query = new Query(rest, QUERY_OPTIONS);
  return (doc) => query.test(doc);
}

/** Applies a find-style projection (inclusion/exclusion, positional `$`, `$elemMatch`, `$slice`). */
export function projectDocs(docs: Doc[], projection: Doc | undefined, filter: Doc): Doc[] {
  if (!projection || Object.keys(projection).length === 0) return docs;
  const { $comment: _comment, ...rest } = filter;
  checkProjection(projection, rest);
  if (docs.length === 0) return docs;
  // The documents were already selected; the filter only serves a positional `.$` projection. Matching them
  // again would drop a findAndModify result whose update changed a field the filter tested.
  const positional = Object.keys(projection).some((key) => key.endsWith('.$'));
  return new Query(positional ? rest : {}, QUERY_OPTIONS).find<Doc>(docs, projection).all();
}

/**
 * Refuses projections mingo answers differently: `$slice` without any inclusion (MongoDB then returns every
 * other field), and a positional `.$` whose array the filter does not mention.
 */
function checkProjection(projection: Doc, filter: Doc): void {
  const entries = Object.entries(projection);
  const isSlice = (v: unknown): boolean => isPlainObject(v) && '$slice' in v;
  const includes = entries.some(([key, v]) => key !== '_id' && !isSlice(v) && (v === true || (typeof v === 'number' && v !== 0) || isPlainObject(v) || key.endsWith('.$')));
  if (entries.some(([, v]) => isSlice(v)) && !includes) {
    fail('NotImplemented', 'the embedded engine supports $slice projections only alongside included fields');
  }
  const filterKeys = [...Object.keys(filter), ...(Array.isArray(filter.$and) ? filter.$and.flatMap((c) => (isPlainObject(c) ? Object.keys(c) : [])) : [])];
  for (const [key] of entries) {
    if (!key.endsWith('.$')) continue;
    const field = key.slice(0, -2);
    if (!filterKeys.some((k) => k === field || k.startsWith(`${field}.`))) {
      fail('BadValue', `positional operator '${key}' requires the query to match on '${field}'`);
    }
  }
}

/** Runs an aggregation pipeline over already-isolated input documents. */
export function runPipeline(docs: Doc[], pipeline: Doc[], resolver: (name: string) => Doc[], variables?: Doc): Doc[] {
  const options = { ...mingoOptions(resolver), processingMode: ProcessingMode.CLONE_INPUT, ...(variables ? { variables } : {}) };
  return new Aggregator(pipeline, options).run(docs) as Doc[];
}
