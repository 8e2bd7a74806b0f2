/**
 * Applies update operators to a document copy, as MongoDB does
 * (https://www.mongodb.com/docs/manual/reference/operator/update/): positional paths (`$`, `$[]`, `$[identifier]`)
 * are first resolved to the concrete array elements they name — `$` through the element the query matched, with
 * the engine's own matcher — then every change is made in field-name order (MongoDB 5+ processes fields
 * lexicographically, numeric names in numeric order), so new fields appear in the order MongoDB gives them.
 * Numbers keep their BSON type (see `numbers.ts`), array equality is MongoDB's (`values.ts`), and fields named
 * `__proto__` are ordinary fields.
 */
import { Long, cloneValue, formatValue, isPlainObject, setField, type Doc } from './bson.ts';
import { fail } from './errors.ts';
import { compileArrayFilter, compilePullCondition, compileFilter, parseSort, sortDocs } from './matcher.ts';
import { arithmetic, bitwise, numberKind, zeroLike } from './numbers.ts';
import { compareValues, keyOf } from './values.ts';

type Container = Doc | unknown[];

/** How a path is walked to its parent: creating documents on the way, failing through a scalar, or neither. */
type Walk = 'create' | 'strict' | 'lenient';

interface Action {
  readonly op: string;
  readonly parts: readonly string[];
  readonly arg: unknown;
}

const INDEX = /^\d+$/;

function isPositional(part: string): boolean {
  return part === '$' || (part.startsWith('$[') && part.endsWith(']'));
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return 'date';
  if (isPlainObject(value)) return 'object';
  const kind = numberKind(value);
  if (kind) return kind;
  return typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
}

function childOf(value: unknown, part: string): unknown {
  if (Array.isArray(value)) return INDEX.test(part) ? value[Number(part)] : undefined;
  if (isPlainObject(value) && Object.prototype.hasOwnProperty.call(value, part)) return value[part];
  return undefined;
}

/** True when `$or`/`$nor` branches of a filter test the array at `arrayPath`. */
function mentionsInBranches(filter: Doc, arrayPath: string): boolean {
  return Object.entries(filter).some(([key, value]) => Array.isArray(value) && key.startsWith('$')
    && value.some((clause) => isPlainObject(clause) && Object.keys(clause).some((k) => k === arrayPath || k.startsWith(`${arrayPath}.`)
      || (k.startsWith('$') && mentionsInBranches(clause, arrayPath)))));
}

/** Resolves the positional `$` and `$[identifier]` of one update against one document. */
class Positions {
  private readonly found = new Map<string, number>();
  private readonly filters = new Map<string, (element: unknown) => boolean>();

  constructor(private readonly condition: Doc, private readonly arrayFilters: readonly Doc[] | undefined) {}

  /**
   * The index `$` stands for in the array at `arrayPath`: the first element matching the query's conditions on
   * that array (https://www.mongodb.com/docs/manual/reference/operator/update/positional/).
   */
  position(arrayPath: string, array: readonly unknown[]): number {
    const known = this.found.get(arrayPath);
    if (known !== undefined) return known;
    const clauses: Doc = {};
    const collect = (filter: Doc): void => {
      for (const [key, value] of Object.entries(filter)) {
        if (key === '$and' && Array.isArray(value)) {
          for (const clause of value) if (isPlainObject(clause)) collect(clause);
        } else if (key === arrayPath || key.startsWith(`${arrayPath}.`)) {
          clauses[`e${key.slice(arrayPath.length)}`] = value;
        }
      }
    };
    collect(this.condition);
    const index = Object.keys(clauses).length === 0 ? -1 : (() => {
      const matches = compileFilter(clauses);
      return array.findIndex((element) => matches({ e: [element] }));
    })();
    if (index < 0) {
      if (Object.keys(clauses).length === 0 && mentionsInBranches(this.condition, arrayPath)) {
        fail('NotImplemented', `the embedded engine resolves the positional $ operator only from conditions at the top level of the query or in $and, not in $or/$nor (${arrayPath})`);
      }
      fail('BadValue', 'The positional operator did not find the match needed from the query.');
    }
    this.found.set(arrayPath, index);
    return index;
  }

  /** The test an `$[identifier]` applies to each element. */
  arrayFilter(identifier: string): (element: unknown) => boolean {
    let test = this.filters.get(identifier);
    if (!test) {
      const filter = this.arrayFilters?.find((f) => Object.keys(f).some((key) => key.split('.')[0] === identifier));
      if (!filter) fail('BadValue', `No array filter found for identifier '${identifier}'`);
      test = compileArrayFilter(identifier, filter);
      this.filters.set(identifier, test);
    }
    return test;
  }
}

/** The concrete paths (array indexes instead of `$`, `$[]`, `$[identifier]`) an update path names in `doc`. */
function concretePaths(doc: Doc, path: string, positions: Positions): string[][] {
  const parts = path.split('.');
  if (!parts.some(isPositional)) return [parts];
  const out: string[][] = [];
  const walk = (value: unknown, at: number, acc: string[]): void => {
    if (at === parts.length) {
      out.push(acc);
      return;
    }
    const part = parts[at] as string;
    if (!isPositional(part)) {
      walk(childOf(value, part), at + 1, [...acc, part]);
      return;
    }
    const arrayPath = acc.join('.');
    if (!Array.isArray(value)) {
      if (part === '$') fail('BadValue', 'The positional operator did not find the match needed from the query.');
      if (value === undefined) fail('BadValue', `The path '${arrayPath}' must exist in the document in order to apply array updates.`);
      fail('BadValue', `Cannot apply array updates to non-array element ${acc[acc.length - 1] ?? ''}: ${formatValue(value)}`);
    }
    if (part === '$') {
      const index = positions.position(arrayPath, value);
      walk(value[index], at + 1, [...acc, String(index)]);
      return;
    }
    const test = part === '$[]' ? undefined : positions.arrayFilter(part.slice(2, -1));
    value.forEach((item, index) => {
      if (!test || test(item)) walk(item, at + 1, [...acc, String(index)]);
    });
  };
  walk(doc, 0, []);
  return out;
}

/** Field-name order as MongoDB applies updates: part by part, numeric names numerically. */
function comparePaths(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x === y) continue;
    if (INDEX.test(x) && INDEX.test(y)) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** Two resolved paths that are equal or one inside the other conflict (e.g. `a.$` and `a.0` naming one element). */
function checkResolvedConflicts(actions: readonly Action[]): void {
  for (let i = 1; i < actions.length; i++) {
    const previous = (actions[i - 1] as Action).parts;
    const current = (actions[i] as Action).parts;
    if (previous.length <= current.length && previous.every((part, k) => part === current[k])) {
      fail('ConflictingUpdateOperators', `Updating the path '${current.join('.')}' would create a conflict at '${previous.join('.')}'`);
    }
  }
}

/**
 * The container holding the last part of `parts` (walking from `doc`), or `undefined` when the path cannot be
 * reached: `create` makes missing documents on the way and fails through a scalar (PathNotViable), `strict` only
 * fails through a scalar, `lenient` neither.
 */
function parentOf(doc: Doc, parts: readonly string[], walk: Walk): Container | undefined {
  let current: Container = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i] as string;
    const following = parts[i + 1] as string;
    let next: unknown;
    if (Array.isArray(current)) {
      if (!INDEX.test(part)) {
        if (walk === 'lenient') return undefined;
        fail('PathNotViable', `Cannot create field '${part}' in element {${parts[i - 1] ?? ''}: ${formatValue(current)}}`);
      }
      next = current[Number(part)];
    } else {
      next = Object.prototype.hasOwnProperty.call(current, part) ? current[part] : undefined;
    }
    if (next === undefined) {
      if (walk !== 'create') return undefined;
      next = {};
      setChild(current, part, next);
    } else if (!isPlainObject(next) && !Array.isArray(next)) {
      if (walk === 'lenient') return undefined;
      fail('PathNotViable', `Cannot create field '${following}' in element {${part}: ${formatValue(next)}}`);
    } else if (Array.isArray(next) && !INDEX.test(following)) {
      if (walk === 'lenient') return undefined;
      fail('PathNotViable', `Cannot create field '${following}' in element {${part}: ${formatValue(next)}}`);
    }
    current = next as Container;
  }
  return current;
}

function getChild(container: Container, key: string): unknown {
  if (Array.isArray(container)) return container[Number(key)];
  return Object.prototype.hasOwnProperty.call(container, key) ? container[key] : undefined;
}

/** Sets a field, or an array element (padding the array with nulls, as MongoDB does). */
function setChild(container: Container, key: string, value: unknown): void {
  if (Array.isArray(container)) {
    const index = Number(key);
    while (container.length < index) container.push(null);
    container[index] = value;
  } else {
    setField(container, key, value);
  }
}

/** Removes a field; inside an array `$unset` leaves null in the element's place. */
function removeChild(container: Container, key: string): void {
  if (Array.isArray(container)) {
    if (Number(key) < container.length) container[Number(key)] = null;
  } else {
    delete container[key];
  }
}

function docId(doc: Doc): string {
  return `{_id: ${formatValue(doc._id)}}`;
}

function applyArithmetic(doc: Doc, op: '$inc' | '$mul', path: string, current: unknown, operand: unknown): unknown {
  if (current === undefined) return op === '$inc' ? cloneValue(operand) : zeroLike(operand);
  const kind = numberKind(current);
  if (!kind) {
    fail('TypeMismatch', `Cannot apply ${op} to a value of non-numeric type. ${docId(doc)} has the field '${path}' of non-numeric type ${typeName(current)}`);
  }
  if (kind === 'decimal') fail('NotImplemented', `the embedded engine does not apply ${op} to Decimal128 values (${path})`);
  const result = arithmetic(op, current, operand);
  if (result === undefined) {
    const shown = `(${current instanceof Long ? 'NumberLong' : 'NumberInt'})${formatValue(current)}`;
    fail('BadValue', `Failed to apply ${op} operations to current value (${shown}) for document ${docId(doc)}`);
  }
  return result;
}

function applyBit(doc: Doc, path: string, current: unknown, spec: Doc): unknown {
  let value: unknown = current === undefined ? 0 : current;
  const kind = numberKind(value);
  if (kind !== 'int' && kind !== 'long') {
    fail('TypeMismatch', `Cannot apply $bit to a value of non-integral type. ${docId(doc)} has the field '${path}' of non-integer type ${typeName(value)}`);
  }
  for (const [op, operand] of Object.entries(spec)) value = bitwise(op as 'and' | 'or' | 'xor', value, operand);
  return value;
}

function requireArray(doc: Doc, op: string, path: string, current: unknown): unknown[] | undefined {
  if (current === undefined || Array.isArray(current)) return current as unknown[] | undefined;
  if (op === '$pop') fail('TypeMismatch', `Path '${path}' contains an element of non-array type '${typeName(current)}'`);
  if (op === '$pull' || op === '$pullAll') fail('BadValue', `Cannot apply ${op} to a non-array value`);
  return fail('BadValue', `The field '${path}' must be an array but is of type ${typeName(current)} in document ${docId(doc)}`);
}

/** `$push` with its modifiers (https://www.mongodb.com/docs/manual/reference/operator/update/push/#modifiers). */
function pushed(current: unknown[] | undefined, arg: unknown): unknown[] {
  const out = current ? current.slice() : [];
  const spec = isPlainObject(arg) && '$each' in arg ? arg : undefined;
  const items = (spec ? spec.$each as unknown[] : [arg]).map((item) => cloneValue(item));
  const position = spec?.$position === undefined ? out.length : Number(spec.$position);
  const at = position < 0 ? Math.max(0, out.length + position) : Math.min(position, out.length);
  out.splice(at, 0, ...items);
  let result = out;
  if (spec?.$sort !== undefined) {
    const sort = spec.$sort;
    if (isPlainObject(sort)) {
      // Sorting by fields of the element documents; each element is wrapped so missing fields sort as null.
      const fields = parseSort(Object.fromEntries(Object.entries(sort).map(([field, direction]) => [`v.${field}`, direction])), '$push.$sort');
      result = sortDocs(out.map((v) => ({ v })), fields).map(({ v }) => v);
    } else {
      const direction = Number(sort) === -1 ? -1 : 1;
      result = [...out].sort((a, b) => compareValues(a, b) * direction);
    }
  }
  if (spec?.$slice !== undefined) {
    const n = Number(spec.$slice);
    result = n >= 0 ? result.slice(0, n) : result.slice(Math.max(0, result.length + n));
  }
  return result;
}

function addedToSet(current: unknown[] | undefined, arg: unknown): unknown[] {
  const out = current ? current.slice() : [];
  const seen = new Set(out.map(keyOf));
  const items = isPlainObject(arg) && '$each' in arg ? arg.$each as unknown[] : [arg];
  for (const item of items) {
    const key = keyOf(item);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(cloneValue(item));
  }
  return out;
}

/** Applies one action at its concrete path. */
function applyAction(doc: Doc, action: Action): void {
  const { op, parts, arg } = action;
  const path = parts.join('.');
  const key = parts[parts.length - 1] as string;
  const walk: Walk = op === '$unset' || op === '$pull' || op === '$pullAll' ? 'lenient' : op === '$pop' ? 'strict' : 'create';
  const parent = parentOf(doc, parts, walk);
  if (!parent) return;
  const current = getChild(parent, key);
  switch (op) {
    case '$set':
    case '$setOnInsert':
      setChild(parent, key, cloneValue(arg));
      return;
    case '$unset':
      if (current !== undefined || (!Array.isArray(parent) && Object.prototype.hasOwnProperty.call(parent, key))) removeChild(parent, key);
      return;
    case '$inc':
    case '$mul':
      setChild(parent, key, applyArithmetic(doc, op, path, current, arg));
      return;
    case '$min':
    case '$max': {
      const order = current === undefined ? (op === '$min' ? -1 : 1) : compareValues(arg, current);
      if (op === '$min' ? order < 0 : order > 0) setChild(parent, key, cloneValue(arg));
      return;
    }
    case '$currentDate':
      setChild(parent, key, new Date());
      return;
    case '$bit':
      setChild(parent, key, applyBit(doc, path, current, arg as Doc));
      return;
    case '$push':
      setChild(parent, key, pushed(requireArray(doc, op, path, current), arg));
      return;
    case '$addToSet':
      setChild(parent, key, addedToSet(requireArray(doc, op, path, current), arg));
      return;
    case '$pop': {
      const array = requireArray(doc, op, path, current);
      if (!array || array.length === 0) return;
      setChild(parent, key, Number(arg) === 1 ? array.slice(0, -1) : array.slice(1));
      return;
    }
    case '$pull':
    case '$pullAll': {
      const array = requireArray(doc, op, path, current);
      if (!array) return;
      let keep: (element: unknown) => boolean;
      if (op === '$pull') {
        const matches = compilePullCondition(arg);
        keep = (element) => !matches(element);
      } else {
        const remove = new Set((arg as unknown[]).map(keyOf));
        keep = (element) => !remove.has(keyOf(element));
      }
      const kept = array.filter(keep);
      if (kept.length !== array.length) setChild(parent, key, kept);
      return;
    }
    default:
      fail('FailedToParse', `Unknown modifier: ${op}`);
  }
}

/** Top-level field names starting with `$` may be inserted (upserts) but not stored by an update of a document. */
function checkStorable(actions: readonly Action[], inserting: boolean): void {
  if (inserting) return;
  for (const { op, parts } of actions) {
    const first = parts[0] as string;
    if (op !== '$unset' && first.startsWith('$')) {
      fail('DollarPrefixedFieldName', `The dollar ($) prefixed field '${first}' in '${parts.join('.')}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.`);
    }
  }
}

/**
 * Applies operator updates (already validated by `parseUpdate`) to `target` in place. `condition` is the update's
 * query (for `$`); `inserting` is true when an upsert builds a new document.
 */
export function applyOperators(target: Doc, ops: Doc, arrayFilters: readonly Doc[] | undefined, condition: Doc, inserting: boolean): void {
  const positions = new Positions(condition, arrayFilters);
  const actions: Action[] = [];
  for (const [op, args] of Object.entries(ops)) {
    for (const [path, arg] of Object.entries(args as Doc)) {
      if (op === '$rename') {
        // $rename is a $set of the destination to the source's value and an $unset of the source.
        const source = path.split('.');
        const parent = parentOf(target, source, 'lenient');
        const value = parent ? getChild(parent, source[source.length - 1] as string) : undefined;
        if (value === undefined) continue;
        actions.push({ op: '$unset', parts: source, arg: '' });
        actions.push({ op: '$set', parts: String(arg).split('.'), arg: value });
        continue;
      }
      for (const parts of concretePaths(target, path, positions)) actions.push({ op, parts, arg });
    }
  }
  actions.sort((a, b) => comparePaths(a.parts, b.parts));
  checkResolvedConflicts(actions);
  checkStorable(actions, inserting);
  for (const action of actions) applyAction(target, action);
}
