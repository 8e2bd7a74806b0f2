/**
 * Update documents: operator updates (through mingo's updater, plus `$setOnInsert` which mingo lacks),
 * replacements, and pipeline updates limited to the stages MongoDB allows there. A stored document is never
 * touched: every function here works on a copy and returns the new version.
 */
import { update as mingoUpdate } from 'mingo/updater';
import { BSON, ObjectId, cloneValue, formatValue, isPlainObject, isUnorderableBsonValue, type Doc } from './bson.ts';
import { fail } from './errors.ts';
import { checkCondition, runPipeline } from './matcher.ts';
import { MAX_BSON_OBJECT_BYTES } from './wire.ts';
import { compareValues, keyOf } from './values.ts';

export type UpdateSpec =
  | { readonly kind: 'replace'; readonly doc: Doc }
  | { readonly kind: 'operators'; readonly ops: Doc; readonly setOnInsert: Doc | undefined }
  | { readonly kind: 'pipeline'; readonly stages: Doc[] };

const OPERATORS = new Set(['$set', '$unset', '$inc', '$mul', '$min', '$max', '$rename', '$push', '$addToSet', '$pop',
  '$pull', '$pullAll', '$currentDate', '$bit', '$setOnInsert']);
/** Operators that fail on a path through a scalar (those creating fields, and `$pop`). */
const CREATING = new Set(['$set', '$inc', '$mul', '$min', '$max', '$push', '$addToSet', '$currentDate', '$bit', '$setOnInsert', '$pop']);
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
      if (path.length === 0) fail('BadValue', "An update path cannot be empty");
      paths.push(path);
      if (op === '$rename') {
        if (typeof value !== 'string') fail('BadValue', `The 'to' field for $rename must be a string: ${path}: ${String(value)}`);
        paths.push(value);
      }
      if ((op === '$inc' || op === '$mul') && typeof value !== 'number') {
        if (isUnorderableBsonValue(value)) fail('NotImplemented', `the embedded engine does not do ${op} with Long/Decimal128 operands (${path})`);
        fail('TypeMismatch', `Cannot ${op === '$inc' ? 'increment' : 'multiply'} with non-numeric argument: {${path}: ${JSON.stringify(value)}}`);
      }
      if ((op === '$min' || op === '$max') && isUnorderableBsonValue(value)) fail('NotImplemented', `the embedded engine does not order Long/Decimal128 values (${op} ${path})`);
      if (op === '$pull') checkCondition(path, value);
      if (op === '$pop' && value !== 1 && value !== -1) fail('FailedToParse', `$pop expects 1 or -1, found: ${formatValue(value)}`);
      if (op === '$currentDate' && value !== true && !(isPlainObject(value) && value.$type === 'date')) {
        fail('NotImplemented', `the embedded engine supports $currentDate only with true or {$type: "date"} (${path})`);
      }
    }
    if (op === '$setOnInsert') setOnInsert = args;
    else ops[op] = args;
  }
  checkConflicts(paths);
  return { kind: 'operators', ops, setOnInsert };
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

/** MongoDB fails where mingo silently skips or overwrites: creating a field under a scalar, null or array. */
function checkPathsViable(doc: Doc, ops: Doc): void {
  for (const [op, args] of Object.entries(ops)) {
    const targets = op === '$rename' ? Object.values(args as Doc).map(String) : CREATING.has(op) ? Object.keys(args as Doc) : [];
    for (const path of targets) {
      const parts = path.split('.');
      let current: unknown = doc;
      for (let i = 0; i < parts.length - 1; i++) {
        const part = parts[i] as string;
        if (part === '$' || part.startsWith('$[')) break;
        const next: unknown = Array.isArray(current) ? (/^\d+$/.test(part) ? current[Number(part)] : undefined)
          : (current as Doc)[part];
        if (next === undefined) break;
        const following = parts[i + 1] as string;
        const arrayStep = Array.isArray(next) && (/^\d+$/.test(following) || following === '$' || following.startsWith('$['));
        if (!arrayStep && (next === null || typeof next !== 'object' || Array.isArray(next) || !isPlainObject(next))) {
          fail('PathNotViable', `Cannot create field '${following}' in element {${part}: ${formatValue(next)}}`);
        }
        current = next;
      }
    }
    if (op === '$inc' || op === '$mul') checkNumericTargets(doc, op, args as Doc);
    if (ARRAY_OPERATORS.has(op)) checkArrayTargets(doc, op, args as Doc);
    if (op === '$bit') checkIntegerTargets(doc, args as Doc);
  }
}

/** Operators that need an array where the field exists (mingo skips other types silently). */
const ARRAY_OPERATORS = new Set(['$push', '$addToSet', '$pull', '$pullAll', '$pop']);

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return 'date';
  if (isPlainObject(value)) return 'object';
  return typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
}

function checkArrayTargets(doc: Doc, op: string, args: Doc): void {
  for (const path of Object.keys(args)) {
    for (const value of targetValues(doc, path.split('.'))) {
      if (value === undefined || Array.isArray(value)) continue;
      if (op === '$pop') fail('TypeMismatch', `Path '${path}' contains an element of non-array type '${typeName(value)}'`);
      if (op === '$pull' || op === '$pullAll') fail('BadValue', `Cannot apply ${op} to a non-array value`);
      fail('BadValue', `The field '${path}' must be an array but is of type ${typeName(value)} in document {_id: ${formatValue(doc._id)}}`);
    }
  }
}

function checkIntegerTargets(doc: Doc, args: Doc): void {
  for (const path of Object.keys(args)) {
    for (const value of targetValues(doc, path.split('.'))) {
      if (value === undefined || (typeof value === 'number' && Number.isInteger(value))) continue;
      fail('TypeMismatch', `Cannot apply $bit to a value of non-integral type. {_id: ${formatValue(doc._id)}} has the field '${path}' of non-integer type ${typeName(value)}`);
    }
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

/** The values a (possibly positional) update path currently holds; positional parts expand to all elements. */
function targetValues(doc: unknown, parts: readonly string[], at = 0): unknown[] {
  if (at === parts.length) return [doc];
  if (doc === null || typeof doc !== 'object') return [];
  const part = parts[at] as string;
  if (Array.isArray(doc)) {
    if (part === '$' || part.startsWith('$[')) return doc.flatMap((item) => targetValues(item, parts, at + 1));
    if (/^\d+$/.test(part)) return targetValues(doc[Number(part)], parts, at + 1);
    return [];
  }
  if (!isPlainObject(doc)) return [];
  return targetValues(doc[part], parts, at + 1);
}

/** mingo silently skips `$inc`/`$mul` on non-numbers; MongoDB fails with TypeMismatch. */
function checkNumericTargets(doc: Doc, op: string, args: Doc): void {
  for (const path of Object.keys(args)) {
    for (const value of targetValues(doc, path.split('.'))) {
      if (value === undefined || (typeof value === 'number')) continue;
      if (isUnorderableBsonValue(value)) fail('NotImplemented', `the embedded engine does not apply ${op} to Long/Decimal128 values (${path})`);
      const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value === 'object' ? 'object' : typeof value;
      fail('TypeMismatch', `Cannot apply ${op} to a value of non-numeric type. {_id: ${formatValue(doc._id)}} has the field '${path}' of non-numeric type ${type}`);
    }
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

/**
 * `$min`/`$max` on plain paths become `$set` (or nothing) decided with MongoDB's cross-type order; mingo's own
 * order puts ObjectId, Binary and Timestamp elsewhere. Positional paths are left to mingo.
 */
function resolveMinMax(target: Doc, ops: Doc): Doc {
  if (!ops.$min && !ops.$max) return ops;
  const out: Doc = { ...ops };
  const set: Doc = { ...(ops.$set as Doc | undefined) };
  for (const op of ['$min', '$max'] as const) {
    const args = ops[op] as Doc | undefined;
    if (!args) continue;
    const rest: Doc = {};
    for (const [path, operand] of Object.entries(args)) {
      if (path.includes('$')) {
        rest[path] = operand;
        continue;
      }
      const [current] = targetValues(target, path.split('.'));
      const order = current === undefined ? (op === '$min' ? -1 : 1) : compareValues(operand, current);
      if (op === '$min' ? order < 0 : order > 0) set[path] = operand;
    }
    if (Object.keys(rest).length) out[op] = rest;
    else delete out[op];
  }
  if (Object.keys(set).length) out.$set = set;
  return out;
}

function applyOperators(target: Doc, rawOps: Doc, arrayFilters: Doc[] | undefined, condition: Doc): void {
  if (Object.keys(rawOps).length === 0) return;
  checkPathsViable(target, rawOps);
  const ops = resolveMinMax(target, rawOps);
  // The filter only matters to the positional `$` operator; compiling it otherwise is wasted work.
  const positional = Object.values(ops).some((args) => Object.keys(args as Doc).some((path) => path.split('.').includes('$')));
  mingoUpdate(target, ops as never, arrayFilters, (positional ? condition : {}) as never, { cloneMode: 'deep' });
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
    const [out] = runPipeline([copy], spec.stages, () => fail('InvalidOptions', 'no collections in update pipelines'));
    if (!out) fail('BadValue', 'update pipeline produced no document');
    if (!('_id' in out)) return idFirst({ ...out, _id: stored._id });
    if (idChanged(stored, out)) immutableId(out);
    return out;
  }
  applyOperators(copy, withoutSameId(spec.ops, stored), arrayFilters, stripComment(filter));
  if (idChanged(stored, copy)) immutableId(copy);
  return copy;
}

function setPath(doc: Doc, path: string, value: unknown): void {
  const parts = path.split('.');
  let current = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i] as string;
    const next = current[part];
    if (!isPlainObject(next)) {
      if (next !== undefined) fail('BadValue', `cannot infer query fields to set, path '${path}' is matched twice`);
      current[part] = {};
    }
    current = current[part] as Doc;
  }
  const last = parts[parts.length - 1] as string;
  if (last in current) fail('BadValue', `cannot infer query fields to set, path '${path}' is matched twice`);
  current[last] = cloneValue(value);
}

/** The equality fields of a filter, as MongoDB seeds an upserted document from them. */
function seedFromFilter(filter: Doc, seed: Doc = {}): Doc {
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' && Array.isArray(value)) {
      for (const clause of value) if (isPlainObject(clause)) seedFromFilter(clause, seed);
      continue;
    }
    if (key.startsWith('$') || value instanceof RegExp) continue;
    if (isPlainObject(value) && Object.keys(value).some((k) => k.startsWith('$'))) {
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
    const [out] = runPipeline([seedFromFilter(filter)], spec.stages, () => fail('InvalidOptions', 'no collections in update pipelines'));
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
    applyOperators(doc, withoutSameId(ops, doc), arrayFilters, {});
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
