/**
 * Projections of `find`, `findAndModify` and the `$project` stage, shaped as MongoDB shapes them
 * (https://www.mongodb.com/docs/manual/reference/method/db.collection.find/#projection): included fields keep the
 * document's field order (so `_id` comes first), excluded ones are removed in place, and computed fields
 * (`$slice`, `$elemMatch`, positional `.$`, expressions) follow the included ones
 * (https://www.mongodb.com/docs/manual/reference/operator/projection/elemMatch/#field-order). Plain inclusion and
 * exclusion are done here (keeping every value's BSON type and own `__proto__` fields); computed fields by mingo.
 */
import { Lazy } from 'mingo/lazy';
import { $project as mingoProject } from 'mingo/operators/pipeline';
import type { Options } from 'mingo/types';
import { isPlainObject, setField, type Doc } from './bson.ts';
import { fail } from './errors.ts';
import { lowerNumbers } from './query_operators.ts';

interface Node {
  leaf?: 'include' | 'exclude';
  readonly children: Map<string, Node>;
}

export interface ProjectionPlan {
  readonly mode: 'include' | 'exclude';
  readonly tree: Node;
  /** Entries mingo computes (`$slice`, `$elemMatch`, `.$`, expressions), or `undefined`. */
  readonly computed: Doc | undefined;
  /** True when a computed entry is an aggregation expression (it reads numbers through mingo). */
  readonly hasExpressions: boolean;
  readonly positional: boolean;
}

/** Flattens nested projection documents (`{a: {b: 1}}` is `{'a.b': 1}`); operator documents stay values. */
function flatten(spec: Doc, prefix = '', out: Array<[string, unknown]> = []): Array<[string, unknown]> {
  for (const [key, value] of Object.entries(spec)) {
    const path = `${prefix}${key}`;
    if (isPlainObject(value) && Object.keys(value).length > 0 && !Object.keys(value).some((k) => k.startsWith('$'))) {
      flatten(value, `${path}.`, out);
    } else {
      if (isPlainObject(value) && Object.keys(value).length === 0) fail('BadValue', `An empty sub-projection is not a valid value. Found empty object at path ${path}`);
      out.push([path, value]);
    }
  }
  return out;
}

function addPath(tree: Node, path: string, leaf: 'include' | 'exclude'): void {
  const parts = path.split('.');
  let node = tree;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (node.leaf) fail('Location31250', `Path collision at ${path} remaining portion ${parts.slice(i).join('.')}`);
    let child = node.children.get(part);
    if (!child) {
      child = { children: new Map() };
      node.children.set(part, child);
    }
    node = child;
  }
  if (node.leaf || node.children.size > 0) fail('Location31250', `Path collision at ${path}`);
  node.leaf = leaf;
}

/** Classifies a projection; `kind` decides whether the find-only operators (`$slice`, `$elemMatch`, `.$`) apply. */
export function planProjection(rawSpec: Doc, kind: 'find' | 'aggregate'): ProjectionPlan {
  const spec = lowerNumbers(rawSpec) as Doc;
  const includes: string[] = [];
  const excludes: string[] = [];
  let computed: Doc | undefined;
  let hasExpressions = false;
  let positional = false;
  for (const [path, value] of flatten(spec)) {
    if (path.split('.').includes('__proto__') && (typeof value !== 'number' && typeof value !== 'boolean')) {
      fail('NotImplemented', `the embedded engine does not compute projections of fields named __proto__ (${path})`);
    }
    if (kind === 'find' && path.endsWith('.$')) {
      positional = true;
      (computed ??= {})[path] = value;
    } else if (value === true || (typeof value === 'number' && value !== 0)) {
      includes.push(path);
    } else if (value === false || value === 0) {
      excludes.push(path);
    } else {
      if (isPlainObject(value) && '$meta' in value) fail('NotImplemented', `$meta projections are not supported by the embedded engine (${path})`);
      const findOperator = kind === 'find' && isPlainObject(value) && Object.keys(value).length === 1 && ('$slice' in value || '$elemMatch' in value);
      if (!findOperator) hasExpressions = true;
      (computed ??= {})[path] = value;
    }
  }
  const inclusive = includes.some((p) => p !== '_id') || computed !== undefined || (excludes.length === 0 && includes.length > 0);
  const tree: Node = { children: new Map() };
  if (inclusive) {
    const bad = excludes.find((p) => p !== '_id');
    if (bad) fail('Location31254', `Cannot do exclusion on field ${bad} in inclusion projection`);
    if (!excludes.includes('_id') && !includes.includes('_id') && !(computed && '_id' in computed)) includes.unshift('_id');
    for (const path of includes) addPath(tree, path, 'include');
  } else {
    for (const path of excludes) addPath(tree, path, 'exclude');
  }
  return { mode: inclusive ? 'include' : 'exclude', tree, computed, hasExpressions, positional };
}

function includeFields(doc: Doc, node: Node): Doc {
  const out: Doc = {};
  for (const key of Object.keys(doc)) {
    const child = node.children.get(key);
    if (!child) continue;
    const value = doc[key];
    if (child.leaf) setField(out, key, value);
    else if (isPlainObject(value)) setField(out, key, includeFields(value, child));
    else if (Array.isArray(value)) setField(out, key, includeInArray(value, child));
  }
  return out;
}

/** Inside an array an inclusion keeps the documents (projected) and nested arrays, and drops other values. */
function includeInArray(values: unknown[], node: Node): unknown[] {
  const out: unknown[] = [];
  for (const value of values) {
    if (isPlainObject(value)) out.push(includeFields(value, node));
    else if (Array.isArray(value)) out.push(includeInArray(value, node));
  }
  return out;
}

function excludeFields(doc: Doc, node: Node): Doc {
  const out: Doc = {};
  for (const key of Object.keys(doc)) {
    const child = node.children.get(key);
    const value = doc[key];
    if (!child) setField(out, key, value);
    else if (child.leaf) continue;
    else if (isPlainObject(value)) setField(out, key, excludeFields(value, child));
    else if (Array.isArray(value)) setField(out, key, value.map((item) => excludeInValue(item, child)));
    else setField(out, key, value);
  }
  return out;
}

function excludeInValue(value: unknown, node: Node): unknown {
  if (isPlainObject(value)) return excludeFields(value, node);
  if (Array.isArray(value)) return value.map((item) => excludeInValue(item, node));
  return value;
}

/** Adds computed fields after the included ones (in place where a field of that name was already projected). */
function mergeComputed(out: Doc, extra: Doc): void {
  for (const key of Object.keys(extra)) {
    const value = extra[key];
    if (value === undefined) continue;
    const existing = out[key];
    if (isPlainObject(value) && isPlainObject(existing) && Object.prototype.hasOwnProperty.call(out, key)) mergeComputed(existing, value);
    else setField(out, key, value);
  }
}

/**
 * Projects documents by a plan. `options` are mingo's (a prepared instance, carrying the query `condition` for a
 * positional projection).
 */
export function applyProjection(docs: Doc[], plan: ProjectionPlan, options: Partial<Options>): Doc[] {
  const shaped = docs.map((doc) => (plan.mode === 'include' ? includeFields(doc, plan.tree) : excludeFields(doc, plan.tree)));
  if (!plan.computed) return shaped;
  const spec: Doc = '_id' in plan.computed ? plan.computed : { _id: 0, ...plan.computed };
  const computed = mingoProject(Lazy(docs), spec, options as Options).collect() as Doc[];
  shaped.forEach((out, i) => mergeComputed(out, computed[i] ?? {}));
  return shaped;
}
