import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { InputTooLargeError, readBoundedFile, readBoundedStream } from './bounded-read.ts';
import { parseStrictJson, readStrictJsonFile, StrictJsonError } from './strict-json.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'strict-json-'));
  dirs.push(d);
  return d;
}

describe('parseStrictJson', () => {
  it('gives what JSON.parse gives for JSON without duplicates', () => {
    const text = '{"a":[1,2.5e3,-0,"x\\u00e9\\n",true,false,null],"b":{"c":{}},"d":[]}';
    expect(parseStrictJson(text)).toEqual(JSON.parse(text));
  });

  it('refuses a duplicate key, naming the key, where it is and its line', () => {
    const text = '{\n "body": {\n  "stockClass": "test",\n  "stockClass": "production"\n }\n}';
    expect(() => parseStrictJson(text)).toThrow(StrictJsonError);
    expect(() => parseStrictJson(text)).toThrow('body: duplicate key "stockClass" (line 4)');
  });

  it('sees duplicates written with different escapes of the same key', () => {
    expect(() => parseStrictJson('{"serial":"A","ser\\u0069al":"B"}')).toThrow(
      /duplicate key "serial"/,
    );
  });

  it('names duplicates inside arrays by index', () => {
    expect(() => parseStrictJson('{"booklets":[{"s":1},{"s":1,"s":2}]}')).toThrow(
      'booklets[1]: duplicate key "s"',
    );
  });

  it('keeps "__proto__" a plain key, as JSON.parse does', () => {
    const v = parseStrictJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses what is not JSON (trailing commas, comments, NaN)', () => {
    for (const t of ['{"a":1,}', '{"a":1}//', '[NaN]', '', "{'a':1}"])
      expect(() => parseStrictJson(t), t).toThrow(/not valid JSON/);
  });

  it('refuses deep nesting quickly, before parsing (brackets inside strings do not count)', () => {
    expect(parseStrictJson(`["${'['.repeat(1000)}"]`)).toEqual(['['.repeat(1000)]);
    const start = performance.now();
    expect(() => parseStrictJson('['.repeat(5_000_000))).toThrow(
      'nested deeper than 64 levels (at character 65)',
    );
    expect(() => parseStrictJson('[[[1]]]', { maxDepth: 2 })).toThrow(/deeper than 2/);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

/**
 * Strings full of what the depth scan must see through: quotes, backslashes (so escaped quotes)
 * and brackets, mixed with any characters.
 */
const trickyString = fc.oneof(
  fc.constantFrom('"', '\\', '[', ']', '{', '}', '\n'),
  fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme' }),
);
const anyJson = fc.oneof(fc.jsonValue(), fc.jsonValue({ stringUnit: trickyString }));

/** How deep arrays and objects nest in a value (a scalar 0, `[]` 1, `[{}]` 2). */
const nestingDepth = (v: unknown): number =>
  typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(nestingDepth)) : 0;

/**
 * JSON values nested up to past the default limit of 64 levels (docs/manifest-format.md), at
 * 63, 64 and 65 on purpose: fast-check's jsonValue nests 0-5 levels, never near it. Each level
 * is an array or an object with one key.
 */
const deepJson = fc
  .tuple(
    fc.jsonValue({ maxDepth: 2, stringUnit: trickyString }),
    fc.oneof(fc.constantFrom(62, 63, 64, 65), fc.integer({ min: 0, max: 70 })),
  )
  .chain(([inner, levels]) =>
    fc
      .array(fc.option(fc.string({ maxLength: 3, unit: trickyString }), { nil: undefined }), {
        minLength: levels,
        maxLength: levels,
      })
      .map((keys) => keys.reduce<unknown>((v, k) => (k === undefined ? [v] : { [k]: v }), inner)),
  );

describe('parseStrictJson agrees with JSON.parse', () => {
  it('on any JSON without duplicate keys, however it is indented, and nests to the limit', () => {
    fc.assert(
      fc.property(
        fc.oneof(anyJson, deepJson),
        fc.constantFrom(undefined, 0, 2, '\t'),
        (value, indent) => {
          const text = JSON.stringify(value, null, indent);
          const depth = nestingDepth(value);
          // Refused exactly when deeper than the limit: the default 64, or one given.
          if (depth <= 64) expect(parseStrictJson(text)).toEqual(JSON.parse(text));
          else expect(() => parseStrictJson(text)).toThrow('nested deeper than 64 levels');
          expect(parseStrictJson(text, { maxDepth: depth })).toEqual(JSON.parse(text));
          if (depth > 0)
            expect(() => parseStrictJson(text, { maxDepth: depth - 1 })).toThrow(
              `nested deeper than ${depth - 1} levels`,
            );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('and refuses any object given a key twice, however the key is escaped, wherever it is', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: trickyString }), anyJson, { minKeys: 1 }),
        fc.nat(),
        fc.nat(),
        anyJson,
        fc.constantFrom('same', 'all-escaped', 'one-escaped'),
        fc.array(fc.oneof(fc.nat({ max: 3 }), fc.stringMatching(/^[a-z]{1,6}$/)), { maxLength: 4 }),
        (obj, pick, at, extra, escape, path) => {
          const keys = Object.keys(obj);
          const key = keys[pick % keys.length]!;
          // The duplicate as written in the text: verbatim, or each UTF-16 unit as a \u escape.
          const u = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
          const written =
            escape === 'same' || key === ''
              ? JSON.stringify(key)
              : escape === 'all-escaped'
                ? `"${key.split('').map(u).join('')}"`
                : `"${u(key[0]!)}${JSON.stringify(key.slice(1)).slice(1)}`;
          const members = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(obj[k])}`);
          members.splice(at % (members.length + 1), 0, `${written}:${JSON.stringify(extra)}`);
          // The object put at `path`: [i] as the (i+1)th element of an array, a name as a key.
          let text = `{${members.join(',')}}`;
          for (const step of [...path].reverse())
            text =
              typeof step === 'number' ? `[${'0,'.repeat(step)}${text}]` : `{"${step}":${text}}`;
          const where = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
          let err: unknown;
          try {
            parseStrictJson(text);
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(StrictJsonError);
          expect((err as Error).message).toContain(`duplicate key ${JSON.stringify(key)}`);
          // Named by its place, as the errors write it (docs/manifest-format.md): body.booklets[1]
          if (path.length) expect((err as StrictJsonError).where).toBe(where.replace(/^\./, ''));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('bounded reads', () => {
  it('refuses an oversized file from its size, before reading it', () => {
    const f = join(tmp(), 'big.json');
    writeFileSync(f, '');
    truncateSync(f, 50 * 1024 * 1024); // sparse: costs no disk, reads as 50 MiB of zeros
    const start = performance.now();
    expect(() => readBoundedFile(f, 32 * 1024 * 1024, `manifest ${f}`)).toThrow(
      `manifest ${f} is too large: 50 MiB (the limit is 32 MiB)`,
    );
    expect(() => readStrictJsonFile(f, { maxBytes: 1024 })).toThrow(InputTooLargeError);
    expect(performance.now() - start).toBeLessThan(200);
  });

  it('reads a file at the limit, and a stream stops past it', async () => {
    const f = join(tmp(), 'ok.json');
    writeFileSync(f, '{"a":1}');
    expect(readStrictJsonFile(f, { maxBytes: 7 })).toEqual({ a: 1 });
    expect(() => readStrictJsonFile(f, { maxBytes: 6 })).toThrow(/too large: 7 bytes/);
    async function* endless(): AsyncGenerator<Buffer> {
      for (;;) yield Buffer.alloc(4096, 0x5b);
    }
    await expect(readBoundedStream(endless(), 10_000, 'stdin')).rejects.toThrow(
      'stdin is too large: more than 9.8 KiB (the limit is 9.8 KiB)',
    );
  });

  it('refuses bytes that are not UTF-8', () => {
    const f = join(tmp(), 'latin1.json');
    writeFileSync(f, Buffer.from([0x22, 0xe9, 0x22]));
    expect(() => readStrictJsonFile(f, { maxBytes: 100, what: 'hopper f' })).toThrow(
      'hopper f is not UTF-8 text',
    );
  });
});
