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
import { Decimal128, isPlainObject, type Doc } from './bson.ts';
import { fail } from './errors.ts';
import { applyProjection, planProjection } from './projection.ts';
import {
  QUERY_OPERATORS, TYPE_TESTS, elementPredicate, equalTo, isDbRef, lowerNumbers, namesDbRefFields, prepareFilter, typeAlias,
  valueMingoLoses,
} from './query_operators.ts';
import { compareValues, sortKeyOf } from './values.ts';

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

/** `$elemMatch` projection: the first element matching the criteria (an operator condition or a query). */
function elemMatchProjection(obj: Doc, criteria: unknown, field: string, options: Partial<Options>): unknown[] | undefined {
  if (!isPlainObject(criteria)) fail('BadValue', '$elemMatch projection needs an Object');
  if (field.includes('.')) fail('BadValue', `Cannot use $elemMatch projection on a nested field (${field})`);
  const value = obj[field];
  if (!Array.isArray(value)) return undefined;
  const index = value.findIndex(elementPredicate(criteria, options));
  return index < 0 ? undefined : [value[index]];
}

/** The `$project` stage, shaped as MongoDB shapes it (see `projection.ts`). */
function projectStage(coll: LazyIterator, expr: unknown, options: Partial<Options>): LazyIterator {
  if (!isPlainObject(expr)) fail('TypeMismatch', '$project specification must be an object');
  if (Object.keys(expr).length === 0) return coll;
  const plan = planProjection(expr, 'aggregate');
  return coll.transform((docs: Doc[]) => Lazy(applyProjection(docs, plan, options)));
}

const CONTEXT = Context.init({
  accumulator: accumulatorOperators,
  expression: { ...expressionOperators, ...EXPRESSION_COMPARISONS },
  pipeline: { ...pipelineOperators, $sort: sortStage, $project: projectStage },
  projection: { ...projectionOperators, $elemMatch: elemMatchProjection },
  query: { ...queryOperators, ...QUERY_OPERATORS },
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
const LOGICAL_OPERATORS = new Set(['$and', '$or', '$nor']);
const DBREF_FIELD_NAMES = new Set(['$ref', '$id', '$db']);
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

/** mingo refuses paths through a field named `__proto__`; the engine says so in MongoDB's terms. */
function checkPath(path: string): void {
  if (path === '__proto__' || path.startsWith('__proto__.') || path.includes('.__proto__')) {
    fail('NotImplemented', `the embedded engine does not query fields named __proto__ (${path})`);
  }
}

function checkFieldExpression(path: string, expr: unknown): void {
  checkPath(path);
  if (!isPlainObject(expr) || !Object.keys(expr).some((k) => k.startsWith('$')) || isDbRef(expr)) {
    checkOperand('$eq', expr, path);
    return;
  }
  for (const [op, operand] of Object.entries(expr)) {
    const refused = REFUSED_OPERATORS[op];
    if (refused) fail('NotImplemented', refused);
    if (!FIELD_OPERATORS.has(op)) fail('BadValue', `unknown operator: ${op}`);
    if (op === '$type') {
      for (const alias of Array.isArray(operand) ? operand : [operand]) {
        if (!TYPE_TESTS.has(typeAlias(alias))) {
          fail('NotImplemented', `the embedded engine does not support $type: ${JSON.stringify(alias)}`);
        }
      }
    } else if (op === '$not') {
      if (operand instanceof RegExp) continue;
      if (!isPlainObject(operand)) fail('BadValue', '$not needs a regex or a document');
      checkFieldExpression(path, operand);
    } else if (op === '$elemMatch') {
      if (!isPlainObject(operand)) fail('BadValue', '$elemMatch needs an Object');
      checkElementCriteria(path, operand);
    } else if (op === '$in' || op === '$nin' || op === '$all') {
      if (!Array.isArray(operand)) fail('BadValue', `${op} needs an array`);
      checkOperand(op, operand, path);
    } else if (RANGE_OPERATORS.has(op) || op === '$eq' || op === '$ne') {
      checkOperand(op, operand, path);
    }
  }
}

/** Checks `$elemMatch` criteria: an operator condition on the elements, or a query on element documents. */
function checkElementCriteria(path: string, criteria: Doc): void {
  const first = Object.keys(criteria)[0];
  if (namesDbRefFields(criteria)) checkFilter(criteria, true);
  else if (first?.startsWith('$') && !LOGICAL_OPERATORS.has(first)) checkFieldExpression(path, criteria);
  else checkFilter(criteria);
}

/**
 * Checks a `$pull` condition as MongoDB reads it (https://www.mongodb.com/docs/manual/reference/operator/update/pull/):
 * a document starting with a field operator (`{$gte: 6}`) tests each element as a value; any other document
 * (`{score: 8}`, `{$or: [...]}`) is a query each element document must match; anything else is a value.
 */
export function checkCondition(path: string, condition: unknown): void {
  if (isPlainObject(condition)) {
    const first = Object.keys(condition)[0];
    if (first !== undefined && FIELD_OPERATORS.has(first)) checkFieldExpression(path, condition);
    else checkFilter(condition);
  } else {
    checkOperand('$eq', condition, path);
  }
}

/**
 * Refuses filters mingo would answer differently from MongoDB (throws a MongoDB-style error). `dbRefFields` lets
 * `$ref`, `$id` and `$db` stand as field names (inside `$elemMatch`, as MongoDB allows).
 */
export function checkFilter(filter: unknown, dbRefFields = false): void {
  if (!isPlainObject(filter)) fail('TypeMismatch', 'filter must be an object');
  for (const [key, value] of Object.entries(filter)) {
    if (key.startsWith('$') && !(dbRefFields && DBREF_FIELD_NAMES.has(key))) {
      const refused = REFUSED_OPERATORS[key];
      if (refused) fail('NotImplemented', refused);
      if (!TOP_LEVEL_OPERATORS.has(key)) fail('BadValue', `unknown top level operator: ${key}`);
      if (LOGICAL_OPERATORS.has(key)) {
        if (!Array.isArray(value) || value.length === 0) fail('BadValue', `${key} must be a nonempty array`);
        for (const clause of value) checkFilter(clause, dbRefFields);
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
  const query = new Query(prepareFilter(rest), QUERY_OPTIONS);
  return (doc) => query.test(doc);
}

/** A matcher for array elements under `$pull` (see {@link checkCondition}). */
export function compilePullCondition(condition: unknown): (element: unknown) => boolean {
  if (isPlainObject(condition)) {
    const first = Object.keys(condition)[0];
    if (first !== undefined && FIELD_OPERATORS.has(first)) {
      const query = new Query({ e: condition }, QUERY_OPTIONS);
      return (element) => query.test({ e: element });
    }
    if (first === undefined) return (element) => isPlainObject(element);
    const query = new Query(prepareFilter(condition), QUERY_OPTIONS);
    return (element) => isPlainObject(element) && query.test(element);
  }
  if (condition instanceof RegExp) {
    const query = new Query({ e: condition }, QUERY_OPTIONS);
    return (element) => query.test({ e: element });
  }
  const equal = equalTo(condition);
  return (element) => (condition === null ? element === null : equal(element));
}

/** A matcher for `$[identifier]` array filters: `filter` names the element as `identifier` (`{'x.qty': {$gt: 1}}`). */
export function compileArrayFilter(identifier: string, filter: Doc): (element: unknown) => boolean {
  checkFilter(filter);
  const query = new Query(prepareFilter(filter), QUERY_OPTIONS);
  return (element) => query.test({ [identifier]: element });
}

/** mingo's prepared options with a query `condition` (what a positional `.$` projection reads). */
function optionsWithCondition(condition: Doc): Partial<Options> {
  const ComputeOptions = (QUERY_OPTIONS as { constructor: { init(options: unknown): { update(locals: Doc): Partial<Options> } } }).constructor;
  return ComputeOptions.init(QUERY_OPTIONS).update({ condition });
}

/** Applies a find-style projection (inclusion/exclusion, positional `$`, `$elemMatch`, `$slice`, expressions). */
export function projectDocs(docs: Doc[], projection: Doc | undefined, filter: Doc): Doc[] {
  if (!projection || Object.keys(projection).length === 0) return docs;
  const { $comment: _comment, ...rest } = filter;
  checkProjection(projection, rest);
  const plan = planProjection(projection, 'find');
  if (docs.length === 0) return docs;
  if (plan.hasExpressions) for (const doc of docs) refuseForExpressions(doc, 'find projections with expressions');
  // The documents were already selected; the filter only serves a positional `.$` projection.
  return applyProjection(docs, plan, plan.positional ? optionsWithCondition(prepareFilter(rest)) : QUERY_OPTIONS);
}

/**
 * Refuses documents whose values mingo's expression operators would compute or pass on differently from MongoDB:
 * Decimal128 and int64 values and doubles holding whole numbers (mingo computes with JS numbers, so their BSON type
 * would be lost), and fields named `__proto__`.
 */
export function refuseForExpressions(doc: unknown, where: string): void {
  const found = valueMingoLoses(doc);
  if (found) fail('NotImplemented', `the embedded engine does not run ${where} over documents holding ${found} (mingo would not keep them as MongoDB does); use MongoDB`);
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

/** Runs an aggregation pipeline over already-isolated input documents (numbers in the pipeline lowered for mingo). */
export function runPipeline(docs: Doc[], pipeline: Doc[], resolver: (name: string) => Doc[], variables?: Doc): Doc[] {
  const options = { ...mingoOptions(resolver), processingMode: ProcessingMode.CLONE_INPUT, ...(variables ? { variables: lowerNumbers(variables) as Doc } : {}) };
  return new Aggregator(lowerNumbers(pipeline) as Doc[], options).run(docs) as Doc[];
}
