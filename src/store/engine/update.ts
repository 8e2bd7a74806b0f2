/**
 * Update documents: operator updates (applied by `update_operators.ts`), replacements, and pipeline updates limited
 * to the stages MongoDB allows there. A stored document is never touched: every function here works on a copy and
 * returns the new version.
 */
import { BSON, Decimal128, ObjectId, cloneValue, formatValue, isPlainObject, setField, type Doc } from './bson.ts';
import { fail } from './errors.ts';
import { checkCondition, refuseForExpressions, runPipeline } from './matcher.ts';
import { numberKind } from './numbers.ts';
import { isDbRef } from './query_operators.ts';
import { applyOperators } from './update_operators.ts';
import { MAX_BSON_OBJECT_BYTES } from './wire.ts';
import { keyOf } from './values.ts';

export type UpdateSpec =
  | { readonly kind: 'replace'; readonly doc: Doc }
  | { readonly kind: 'operators'; readonly ops: Doc; readonly setOnInsert: Doc | undefined }
  | { readonly kind: 'pipeline'; readonly stages: Doc[] };

const OPERATORS = new Set(['$set', '$unset', '$inc', '$mul', '$min', '$max', '$rename', '$push', '$addToSet', '$pop',
  '$pull', '$pullAll', '$currentDate', '$bit', '$setOnInsert']);
const PIPELINE_STAGES = new Set(['$addFields', '$set', '$project', '$unset', '$replaceRoot', '$replaceWith']);

/** Validates the `u` of an update statement. */
export function parseUpdate(raw: unknown): UpdateSpec {
  if (Array.isArray(raw)) {
    for (const stage of raw) {
      if (!isPlainObject(stage) || Object.keys(stage).length !== 1) fail('FailedToParse', 'A pipeline stage specification object must contain exactly one field.');
      const name = Object.keys(stage)[0] as string;
      if (!PIPELINE_STAGES.has(name)) fail('InvalidOptions', `${name} is not allowed to be used within an update`);
    }
    return { kind: 'pipeline', stages: raw as Doc[] };
  }
  if (!isPlainObject(raw)) fail('FailedToParse', 'Update argument must be either an object or an array');
  const keys = Object.keys(raw);
  if (keys.length === 0 || !keys[0]?.startsWith('$')) {
    const bad = keys.find((k) => k.startsWith('$'));
    if (bad) fail('DollarPrefixedFieldName', `The dollar ($) prefixed field '${bad}' in '${bad}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.`);
    return { kind: 'replace', doc: raw };
  }
  const ops: Doc = {};
  let setOnInsert: Doc | undefined;
  const paths: string[] = [];
  for (const op of keys) {
    if (!OPERATORS.has(op)) {
      fail('FailedToParse', `Unknown modifier: ${op}. Expected a valid update modifier or pipeline-style update specified as an array`);
    }
    const args = raw[op];
    if (!isPlainObject(args)) {
      fail('FailedToParse', `Modifiers operate on fields but we found type ${Array.isArray(args) ? 'array' : typeof args} instead. For example: {$mod: {<field>: ...}} not {${op}: ${String(args)}}`);
    }
    for (const [path, value] of Object.entries(args)) {
      checkUpdatePath(op, path);
      paths.push(path);
      if (op === '$rename') {
        if (typeof value !== 'string') fail('BadValue', `The 'to' field for $rename must be a string: ${path}: ${String(value)}`);
        if (path.split('.').some(isPositionalPart) || value.split('.').some(isPositionalPart)) {
          fail('BadValue', `The source and destination fields for $rename may not be dynamic: ${path}`);
        }
        checkUpdatePath(op, value);
        paths.push(value);
      }
      checkOperand(op, path, value);
    }
    if (op === '$setOnInsert') setOnInsert = args;
    else ops[op] = args;
  }
  checkConflicts(paths);
  return { kind: 'operators', ops, setOnInsert };
}

function isPositionalPart(part: string): boolean {
  return part === '$' || (part.startsWith('$[') && part.endsWith(']'));
}

/** MongoDB's checks of an update path: no empty part, at most one `$`, array filter identifiers well formed. */
function checkUpdatePath(op: string, path: string): void {
  if (path.length === 0) fail('BadValue', 'An update path cannot be empty');
  const parts = path.split('.');
  if (parts.some((part) => part.length === 0)) fail('EmptyFieldName', `The update path '${path}' contains an empty field name, which is not allowed.`);
  if (parts.filter((part) => part === '$').length > 1) fail('BadValue', `Too many positional (i.e. '$') elements found in path '${path}'`);
  if (parts[0] === '$' || parts[0]?.startsWith('$[')) fail('BadValue', `Cannot have array filter identifier (i.e. '$[<id>]') or positional operator ('$') as the first element in path '${path}' (${op})`);
  for (const part of parts) {
    if (part.startsWith('$[') && part.endsWith(']') && part !== '$[]' && !/^[a-z][a-zA-Z0-9]*$/.test(part.slice(2, -1))) {
      fail('BadValue', `Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '${part.slice(2, -1)}'`);
    }
  }
}

function numericValue(value: unknown): number | undefined {
  const kind = numberKind(value);
  return kind && kind !== 'decimal' ? Number((value as number).valueOf()) : undefined;
}

/** Checks the operand of one operator on one path. */
function checkOperand(op: string, path: string, value: unknown): void {
  if (op === '$inc' || op === '$mul') {
    const kind = numberKind(value);
    if (kind === 'decimal') fail('NotImplemented', `the embedded engine does not do ${op} with Decimal128 operands (${path})`);
    if (!kind) fail('TypeMismatch', `Cannot ${op === '$inc' ? 'increment' : 'multiply'} with non-numeric argument: {${path}: ${formatValue(value)}}`);
  }
  if ((op === '$min' || op === '$max') && value instanceof Decimal128) fail('NotImplemented', `the embedded engine does not order Decimal128 values (${op} ${path})`);
  if (op === '$pull') checkCondition(path, value);
  if (op === '$pullAll' && !Array.isArray(value)) fail('BadValue', `$pullAll requires an array argument but was given a ${typeof value}`);
  if (op === '$pop' && numericValue(value) !== 1 && numericValue(value) !== -1) fail('FailedToParse', `$pop expects 1 or -1, found: ${formatValue(value)}`);
  if (op === '$currentDate' && value !== true && !(isPlainObject(value) && value.$type === 'date')) {
    fail('NotImplemented', `the embedded engine supports $currentDate only with true or {$type: "date"} (${path})`);
  }
  if (op === '$bit') checkBitOperand(path, value);
  if (op === '$push' || op === '$addToSet') checkEach(op, path, value);
}

function checkBitOperand(path: string, value: unknown): void {
  if (!isPlainObject(value) || Object.keys(value).length === 0) {
    fail('BadValue', `The $bit modifier is not compatible with a ${Array.isArray(value) ? 'array' : typeof value}. You must pass in an embedded document: {$bit: {field: {and/or/xor: #}}`);
  }
  for (const [op, operand] of Object.entries(value)) {
    if (op !== 'and' && op !== 'or' && op !== 'xor') fail('BadValue', `The $bit modifier only supports 'and', 'or', and 'xor', not '${op}' which is an unknown operator: {${op}: ${formatValue(operand)}}`);
    const kind = numberKind(operand);
    if (kind !== 'int' && kind !== 'long') fail('BadValue', `The $bit modifier field must be an Integer(32/64 bit); a '${kind ?? typeof operand}' is not supported here: {${op}: ${formatValue(operand)}} (${path})`);
  }
}

/** `$push`/`$addToSet` modifiers (https://www.mongodb.com/docs/manual/reference/operator/update/push/#modifiers). */
function checkEach(op: string, path: string, value: unknown): void {
  if (!isPlainObject(value) || !('$each' in value)) return;
  const allowed = op === '$push' ? ['$each', '$slice', '$sort', '$position'] : ['$each'];
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail('BadValue', `Unrecognized clause in ${op}: ${key}`);
  }
  if (!Array.isArray(value.$each)) fail('BadValue', `The argument to $each in ${op} must be an array but it was of type: ${typeof value.$each} (${path})`);
  for (const modifier of ['$slice', '$position'] as const) {
    if (value[modifier] === undefined) continue;
    const n = numericValue(value[modifier]);
    if (n === undefined || !Number.isInteger(n)) fail('BadValue', `The value for ${modifier} must be an integer value but was given type: ${typeof value[modifier]}`);
  }
  if (value.$sort !== undefined) {
    const sort = value.$sort;
    const n = numericValue(sort);
    if (isPlainObject(sort)) {
      if (Object.keys(sort).length === 0) fail('BadValue', 'The $sort pattern is empty when it should be a set of fields.');
      for (const direction of Object.values(sort)) {
        if (numericValue(direction) !== 1 && numericValue(direction) !== -1) fail('BadValue', 'The $sort element value must be either 1 or -1');
      }
    } else if (n !== 1 && n !== -1) {
      fail('BadValue', 'The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields');
    }
  }
}

function normalisePath(path: string): string {
  return path.split('.').map((part) => (part === '$' || part.startsWith('$[') ? '$' : part)).join('.');
}

/** MongoDB refuses two operators on the same path or on a path and its prefix. */
function checkConflicts(paths: readonly string[]): void {
  const seen: string[] = [];
  for (const raw of paths) {
    const path = normalisePath(raw);
    for (const other of seen) {
      if (path === other || path.startsWith(`${other}.`) || other.startsWith(`${path}.`)) {
        fail('ConflictingUpdateOperators', `Updating the path '${raw}' would create a conflict at '${other.length < path.length ? other : path}'`);
      }
    }
    seen.push(path);
  }
}

/** Every `$[identifier]` needs an array filter, and every array filter must be used (as MongoDB requires). */
export function checkArrayFilters(spec: UpdateSpec, arrayFilters: Doc[] | undefined): void {
  const paths = spec.kind === 'operators'
    ? [...Object.values(spec.ops), spec.setOnInsert ?? {}].flatMap((args) => Object.keys(args as Doc))
    : [];
  const used = new Map<string, string>();
  for (const path of paths) {
    for (const match of path.matchAll(/\$\[([^\]]+)\]/g)) used.set(match[1] as string, path);
  }
  const provided = new Set<string>();
  for (const filter of arrayFilters ?? []) {
    const ids = new Set(Object.keys(filter).map((key) => key.split('.')[0] as string));
    if (ids.size !== 1) fail('FailedToParse', 'Each array filter must use a single top-level field name');
    const [id] = ids as Set<string> & Iterable<string>;
    if (provided.has(id as string)) fail('FailedToParse', `Found multiple array filters with the same top-level field name ${id as string}`);
    provided.add(id as string);
  }
  for (const [id, path] of used) {
    if (!provided.has(id)) fail('BadValue', `No array filter found for identifier '${id}' in path '${path}'`);
  }
  for (const id of provided) {
    if (!used.has(id)) fail('FailedToParse', `The array filter for identifier '${id}' was not used in the update`);
  }
}

function stripComment(filter: Doc): Doc {
  const { $comment: _comment, ...rest } = filter;
  return rest;
}

function idChanged(before: Doc, after: Doc): boolean {
  return keyOf(before._id) !== keyOf(after._id);
}

function immutableId(after: Doc): never {
  return fail('ImmutableField', `Performing an update on the path '_id' would modify the immutable field '_id' (new value ${formatValue(after._id)})`);
}

/** `_id` first, as MongoDB stores it. */
function idFirst(doc: Doc): Doc {
  if (Object.keys(doc)[0] === '_id') return doc;
  const { _id, ...rest } = doc;
  return { _id, ...rest };
}

/** Removes `$set: { _id: <same value> }` (allowed by MongoDB, refused by mingo). */
function withoutSameId(ops: Doc, doc: Doc): Doc {
  const out: Doc = {};
  for (const [op, args] of Object.entries(ops)) {
    const copy: Doc = { ...(args as Doc) };
    if (op === '$set' && '_id' in copy) {
      if (keyOf(copy._id) !== keyOf(doc._id)) immutableId(copy);
      delete copy._id;
    }
    for (const path of Object.keys(copy)) if (path === '_id' || path.startsWith('_id.')) fail('ImmutableField', `Performing an update on the path '${path}' would modify the immutable field '_id'`);
    if (Object.keys(copy).length) out[op] = copy;
  }
  return out;
}

/** MongoDB refuses updates that grow a document past the BSON size limit. */
export function checkDocumentSize(doc: Doc): Doc {
  const size = BSON.calculateObjectSize(doc);
  if (size > MAX_BSON_OBJECT_BYTES) fail('BadValue', `Resulting document after update is larger than ${MAX_BSON_OBJECT_BYTES} (${size} bytes)`);
  return doc;
}

/** The new version of a stored document after `spec` (the stored one is untouched). */
export function updatedDocument(stored: Doc, spec: UpdateSpec, filter: Doc, arrayFilters: Doc[] | undefined): Doc {
  return checkDocumentSize(computeUpdate(stored, spec, filter, arrayFilters));
}

function computeUpdate(stored: Doc, spec: UpdateSpec, filter: Doc, arrayFilters: Doc[] | undefined): Doc {
  if (spec.kind === 'replace') {
    const next = cloneValue(spec.doc);
    if ('_id' in next && keyOf(next._id) !== keyOf(stored._id)) immutableId(next);
    return { _id: stored._id, ...next };
  }
  const copy = cloneValue(stored);
  if (spec.kind === 'pipeline') {
    refuseForExpressions(copy, 'pipeline-style updates');
    const [out] = runPipeline([copy], spec.stages, () => fail('InvalidOptions', 'no collections in update pipelines'));
    if (!out) fail('BadValue', 'update pipeline produced no document');
    if (!('_id' in out)) return idFirst({ ...out, _id: stored._id });
    if (idChanged(stored, out)) immutableId(out);
    return out;
  }
  applyOperators(copy, withoutSameId(spec.ops, stored), arrayFilters, stripComment(filter), false);
  if (idChanged(stored, copy)) immutableId(copy);
  return copy;
}

function setPath(doc: Doc, path: string, value: unknown): void {
  const parts = path.split('.');
  let current = doc;
  const has = (obj: Doc, key: string): boolean => Object.prototype.hasOwnProperty.call(obj, key);
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i] as string;
    const next = has(current, part) ? current[part] : undefined;
    if (!isPlainObject(next)) {
      if (next !== undefined) fail('BadValue', `cannot infer query fields to set, path '${path}' is matched twice`);
      setField(current, part, {});
    }
    current = current[part] as Doc;
  }
  const last = parts[parts.length - 1] as string;
  if (has(current, last)) fail('BadValue', `cannot infer query fields to set, path '${path}' is matched twice`);
  setField(current, last, cloneValue(value));
}

/** The equality fields of a filter, as MongoDB seeds an upserted document from them. */
function seedFromFilter(filter: Doc, seed: Doc = {}): Doc {
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' && Array.isArray(value)) {
      for (const clause of value) if (isPlainObject(clause)) seedFromFilter(clause, seed);
      continue;
    }
    if (key.startsWith('$') || value instanceof RegExp) continue;
    if (isPlainObject(value) && Object.keys(value).some((k) => k.startsWith('$')) && !isDbRef(value)) {
      const ops = Object.keys(value);
      if (ops.length === 1 && ops[0] === '$eq') setPath(seed, key, value.$eq);
      else if (ops.length === 1 && ops[0] === '$in' && Array.isArray(value.$in) && value.$in.length === 1) setPath(seed, key, value.$in[0]);
      continue;
    }
    setPath(seed, key, value);
  }
  return seed;
}

/** The document an upsert inserts when nothing matched. */
export function upsertDocument(spec: UpdateSpec, filter: Doc, arrayFilters: Doc[] | undefined): Doc {
  let doc: Doc;
  if (spec.kind === 'replace') {
    const seed = seedFromFilter(filter);
    doc = cloneValue(spec.doc);
    if (!('_id' in doc) && '_id' in seed) doc = { _id: seed._id, ...doc };
  } else if (spec.kind === 'pipeline') {
    const seed = seedFromFilter(filter);
    refuseForExpressions(seed, 'pipeline-style updates');
    const [out] = runPipeline([seed], spec.stages, () => fail('InvalidOptions', 'no collections in update pipelines'));
    if (!out) fail('BadValue', 'update pipeline produced no document');
    doc = out;
  } else {
    doc = seedFromFilter(filter);
    const ops: Doc = { ...spec.ops };
    if (spec.setOnInsert) ops.$set = { ...(ops.$set as Doc | undefined), ...spec.setOnInsert };
    const set = ops.$set as Doc | undefined;
    if (set && '_id' in set) {
      if ('_id' in doc && keyOf(doc._id) !== keyOf(set._id)) immutableId({ _id: set._id });
      doc._id = set._id;
      const { _id: _ignored, ...rest } = set;
      ops.$set = rest;
    }
    applyOperators(doc, withoutSameId(ops, doc), arrayFilters, {}, true);
  }
  if (!('_id' in doc) || doc._id === undefined) doc._id = new ObjectId();
  checkId(doc._id);
  return checkDocumentSize(idFirst(doc));
}

/** MongoDB refuses arrays, regexes and undefined as `_id`. */
export function checkId(id: unknown): void {
  if (Array.isArray(id)) fail('BadValue', "can't use an array for _id");
  if (id instanceof RegExp) fail('BadValue', "can't use a regex for _id");
  if (id === undefined) fail('BadValue', "can't use undefined for _id");
}
