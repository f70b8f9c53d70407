/**
 * The check that values survive JSON unchanged (task arguments, results, progress), and the nesting depth of a
 * JSON text (entries are refused past MAX_DEPTH before parsing).
 */
import { SerializationError } from './errors.ts';

/** Enqueue refuses deeper arguments; decoding refuses them too, before parsing (deep values break recursion). */
export const MAX_DEPTH = 1000;

/**
 * Throws a `SerializationError` unless `JSON.parse(JSON.stringify(value))` gives back an equal value:
 * only plain objects, arrays, strings, finite numbers, booleans and null, without cycles, holes or `undefined`.
 */
export function assertJsonFaithful(value: unknown, path: string): void {
  if (isFaithfulFast(value, 0)) return;
  const seen = new Set<object>();
  const visit = (v: unknown, at: string, depth: number): void => {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(v)) throw new SerializationError(at, `is ${v}, which JSON turns into null`);
        return;
      case 'undefined':
        throw new SerializationError(at, 'is undefined, which JSON drops or turns into null');
      case 'bigint':
        throw new SerializationError(at, 'is a BigInt, which JSON cannot carry (pass it as a string)');
      case 'function':
        throw new SerializationError(at, 'is a function, which JSON cannot carry');
      case 'symbol':
        throw new SerializationError(at, 'is a symbol, which JSON cannot carry');
    }
    if (v === null) return;
    const obj = v as object;
    if (depth >= MAX_DEPTH) throw new SerializationError(at, `is nested more than ${MAX_DEPTH} levels deep`);
    if (seen.has(obj)) throw new SerializationError(at, 'is a circular reference');
    seen.add(obj);
    if (Array.isArray(obj)) {
      for (let i = 0; i < obj.length; i++) {
        if (!(i in obj)) throw new SerializationError(`${at}[${i}]`, 'is a hole in a sparse array, which JSON turns into null');
        visit(obj[i], `${at}[${i}]`, depth + 1);
      }
    } else {
      const proto: unknown = Object.getPrototypeOf(obj);
      if (proto !== Object.prototype && proto !== null) {
        const kind = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'non-plain object';
        throw new SerializationError(
          at,
          `is a ${kind}, which JSON does not carry faithfully (pass plain objects, arrays and primitives; a Date as a string)`,
        );
      }
      if (Object.getOwnPropertySymbols(obj).length > 0) throw new SerializationError(at, 'has symbol keys, which JSON drops');
      if ('toJSON' in obj) throw new SerializationError(at, 'has a toJSON method, so JSON would not carry it as it is');
      for (const key of Object.keys(obj)) visit((obj as Record<string, unknown>)[key], `${at}.${key}`, depth + 1);
    }
    seen.delete(obj);
  };
  visit(value, path, 0);
}

/**
 * The same checks as `assertJsonFaithful` without building paths or a set of ancestors, for the common case
 * (every enqueue): true only if `assertJsonFaithful` would pass; false sends the value through the slow check,
 * which finds the problem and its path. A cycle goes over the depth limit here, and is named by the slow check.
 */
function isFaithfulFast(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object':
      break;
    default:
      return false;
  }
  if (v === null) return true;
  if (depth >= MAX_DEPTH) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (!(i in v) || !isFaithfulFast(v[i], depth + 1)) return false;
    }
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  if (Object.getOwnPropertySymbols(v).length > 0 || 'toJSON' in v) return false;
  // for-in (no key array) visits the own enumerable keys that Object.keys gives and JSON writes, plus inherited
  // enumerable ones (none unless Object.prototype was extended): checking more than needed can only send a
  // value to the slow check, never let a bad one through.
  for (const key in v) {
    if (!isFaithfulFast((v as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

/** The deepest nesting of arrays and objects in a JSON text, by one scan that skips strings. */
export function nestingDepth(json: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}
