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

describe('parseStrictJson agrees with JSON.parse', () => {
  it('on any JSON without duplicate keys, however it is indented', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(undefined, 0, 2, '\t'), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        expect(parseStrictJson(text)).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('and refuses any object given a key twice', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }),
        fc.nat(),
        fc.jsonValue(),
        (obj, pick, extra) => {
          const keys = Object.keys(obj);
          const key = keys[pick % keys.length]!;
          const text = `{${JSON.stringify(key)}:${JSON.stringify(extra)},${JSON.stringify(obj).slice(1)}`;
          expect(() => parseStrictJson(text)).toThrow(`duplicate key ${JSON.stringify(key)}`);
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
