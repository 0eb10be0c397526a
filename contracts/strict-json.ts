/**
 * The one JSON reader for everything the station is given from outside (manifests,
 * applications, hopper files, configuration, later sync messages). Unlike `JSON.parse` it
 * refuses an object that names a key twice: `JSON.parse` keeps the last value, another reader
 * may keep the first, and a signed document must not mean two things. It also bounds the
 * nesting depth before parsing, so a file of nested brackets costs a linear scan, not the
 * stack or the heap. Built on @humanwhocodes/momoa's AST, which keeps every member.
 */
import { parse, type ValueNode } from '@humanwhocodes/momoa';
import { decodeUtf8, readBoundedFile } from './bounded-read.ts';

/** Deep enough for every format the station reads (they nest 4-5 levels); far from the stack. */
export const DEFAULT_MAX_JSON_DEPTH = 64;

/** JSON that is malformed, names a key twice, or nests too deep. `where` is the JSON path. */
export class StrictJsonError extends Error {
  constructor(
    readonly where: string,
    readonly detail: string,
  ) {
    super(where ? `${where}: ${detail}` : detail);
    this.name = 'StrictJsonError';
  }
}

export interface StrictJsonOptions {
  /** Deepest nesting of arrays and objects allowed (default DEFAULT_MAX_JSON_DEPTH). */
  maxDepth?: number;
}

/** Parses JSON text; refuses duplicate keys and nesting deeper than `maxDepth`. */
export function parseStrictJson(text: string, opts: StrictJsonOptions = {}): unknown {
  checkDepth(text, opts.maxDepth ?? DEFAULT_MAX_JSON_DEPTH);
  let body: ValueNode;
  try {
    body = parse(text, { mode: 'json' }).body;
  } catch (e) {
    throw new StrictJsonError('', `not valid JSON (${(e as Error).message})`);
  }
  return valueOf(body, []);
}

/** Reads a UTF-8 JSON file of at most `maxBytes` bytes with parseStrictJson. */
export function readStrictJsonFile(
  path: string,
  opts: StrictJsonOptions & { maxBytes: number; what?: string },
): unknown {
  const what = opts.what ?? `file ${path}`;
  return parseStrictJson(decodeUtf8(readBoundedFile(path, opts.maxBytes, what), what), opts);
}

/** A JSON path as the station's errors write it: `body.booklets[3].serial`. */
function pathText(path: readonly (string | number)[]): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out ? `.${k}` : k;
  return out;
}

/** The value of a node; `path` (kept as segments, formatted only for an error) is where it is. */
function valueOf(node: ValueNode, path: (string | number)[]): unknown {
  switch (node.type) {
    case 'String':
    case 'Number':
    case 'Boolean':
      return node.value;
    case 'Null':
      return null;
    case 'Array': {
      const out: unknown[] = new Array(node.elements.length);
      for (let i = 0; i < node.elements.length; i++) {
        path.push(i);
        out[i] = valueOf(node.elements[i]!.value, path);
        path.pop();
      }
      return out;
    }
    case 'Object': {
      const obj: Record<string, unknown> = {};
      const seen = new Set<string>();
      for (const m of node.members) {
        const key = m.name.type === 'String' ? m.name.value : m.name.name;
        if (seen.has(key))
          throw new StrictJsonError(
            pathText(path) || '(top level)',
            `duplicate key ${JSON.stringify(key)} (line ${m.name.loc.start.line}); a key may appear once`,
          );
        seen.add(key);
        path.push(key);
        const value = valueOf(m.value, path);
        path.pop();
        // "__proto__" by assignment would set the prototype: define it as a plain property.
        if (key === '__proto__')
          Object.defineProperty(obj, key, {
            value,
            writable: true,
            enumerable: true,
            configurable: true,
          });
        else obj[key] = value;
      }
      return obj;
    }
    default:
      // NaN, Infinity and identifiers exist only in JSON5 mode.
      throw new StrictJsonError(pathText(path), `not JSON: ${node.type}`);
  }
}

/** Linear scan for the nesting depth, outside strings; runs before the recursive parser. */
function checkDepth(text: string, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth)
        throw new StrictJsonError(
          '',
          `nested deeper than ${maxDepth} levels (at character ${i + 1})`,
        );
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}
