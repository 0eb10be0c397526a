import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc16, crc8 } from './crc.ts';
import {
  encodeFrame,
  FrameDecoder,
  FrameParser,
  FrameReceiver,
  MAX_FRAME_SIZE,
  MAX_PAYLOAD,
  type Frame,
} from './frame.ts';

/**
 * Payloads of every length class of LEN (u16 big-endian, 0..8192, docs/protocol.md): empty,
 * small, under 256 (LEN's high byte 0), 256 and over, the boundaries 255/256/257 and the
 * largest, 8191 and 8192, drawn on purpose. `fc.uint8Array({ maxLength: 300 })` at fast-check's
 * default size drew payloads of 0-10 bytes only: LEN's high byte was always 0.
 */
const payloadArb: fc.Arbitrary<Buffer> = fc
  .oneof(
    { arbitrary: fc.integer({ min: 0, max: 16 }), weight: 3 },
    { arbitrary: fc.integer({ min: 17, max: 1000 }), weight: 2 },
    { arbitrary: fc.constantFrom(0, 255, 256, 257, MAX_PAYLOAD - 1, MAX_PAYLOAD), weight: 1 },
  )
  .chain((n) => fc.uint8Array({ minLength: n, maxLength: n }))
  .map((a) => Buffer.from(a));

const frameArb = fc.record({
  seq: fc.integer({ min: 0, max: 255 }),
  type: fc.integer({ min: 0, max: 255 }),
  code: fc.integer({ min: 0, max: 255 }),
  payload: payloadArb,
});

/** CRC-8, poly 0x07, init 0x00, and CRC-16/CCITT-FALSE, bit by bit from docs/protocol.md. */
function modelCrc(bytes: Uint8Array, width: 8 | 16, poly: number, init: number): number {
  const top = 1 << (width - 1);
  const mask = (1 << width) - 1;
  let crc = init;
  for (const byte of bytes) {
    crc ^= byte << (width - 8);
    for (let i = 0; i < 8; i++) crc = crc & top ? ((crc << 1) ^ poly) & mask : (crc << 1) & mask;
  }
  return crc;
}

/** The frame as docs/protocol.md lays it out. */
function modelFrame(f: Frame): Buffer {
  const n = f.payload.length;
  const header = Buffer.from([0xa5, n >> 8, n & 0xff, f.seq, f.type, f.code]);
  const hcs = modelCrc(header.subarray(1), 8, 0x07, 0x00);
  const body = Buffer.concat([header, Buffer.from([hcs]), f.payload]);
  const crc = modelCrc(body.subarray(1), 16, 0x1021, 0xffff);
  return Buffer.concat([body, Buffer.from([crc >> 8, crc & 0xff])]);
}

function frames(items: ReturnType<FrameDecoder['push']>): Frame[] {
  return items.flatMap((i) => ('frame' in i ? [i.frame] : []));
}

/**
 * How a stream is cut into chunks: chunks of the given sizes in turn (small ones, and ones
 * holding several frames), or every frame cut at the same offsets, counted from its start
 * (0-8: inside the header, at HCS, at the first payload byte) or from its end (-1, -2: inside
 * the CRC; -3: before the last payload byte), so those cuts come up whatever the frame sizes.
 */
type Chunking = { sizes: number[] } | { offsets: number[] };
const chunking: fc.Arbitrary<Chunking> = fc.oneof(
  fc.record({
    sizes: fc.array(
      fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 10_000 })),
      { minLength: 1, maxLength: 20 },
    ),
  }),
  fc.record({
    offsets: fc.array(fc.integer({ min: -3, max: 8 }), { minLength: 1, maxLength: 4 }),
  }),
);

/** Where each chunk of `frames`' stream ends, in order; the last one is the stream's end. */
function chunkEnds(c: Chunking, frames: Buffer[]): number[] {
  const total = frames.reduce((n, f) => n + f.length, 0);
  const ends = new Set<number>([total]);
  if ('sizes' in c) {
    let p = 0;
    for (let i = 0; p < total; i++) {
      p = Math.min(p + c.sizes[i % c.sizes.length]!, total);
      ends.add(p);
    }
  } else
    for (let start = 0, i = 0; i < frames.length; start += frames[i++]!.length)
      for (const o of c.offsets) {
        const at = start + (o >= 0 ? o : frames[i]!.length + o);
        if (at > start && at < start + frames[i]!.length) ends.add(at);
      }
  return [...ends].sort((a, b) => a - b);
}

describe('frame codec', () => {
  it('uses CRC-16/CCITT-FALSE', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x29b1);
  });

  it('encodes the documented layout', () => {
    const b = encodeFrame({ seq: 7, type: 1, code: 0x10, payload: Buffer.from([0xaa]) });
    expect(b.subarray(0, 6).toString('hex')).toBe('a50001070110');
    expect(b[6]).toBe(crc8(b, 1, 6));
    expect(b[7]).toBe(0xaa);
    expect(b.length).toBe(10);
  });

  it('refuses payloads above the maximum and non-byte header fields', () => {
    expect(() =>
      encodeFrame({ seq: 0, type: 1, code: 1, payload: Buffer.alloc(MAX_PAYLOAD + 1) }),
    ).toThrow(/exceeds/);
    expect(() => encodeFrame({ seq: 256, type: 1, code: 1, payload: Buffer.alloc(0) })).toThrow(
      /seq/,
    );
  });

  it('round-trips any frames split at any points, encoded as docs/protocol.md lays them out', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), chunking, (fs, split) => {
        const encoded = fs.map(encodeFrame);
        for (const [i, e] of encoded.entries())
          expect(e.toString('hex')).toBe(modelFrame(fs[i]!).toString('hex'));
        const stream = Buffer.concat(encoded);
        const d = new FrameDecoder();
        const got: Frame[] = [];
        let p = 0;
        for (const end of chunkEnds(split, encoded)) {
          got.push(...frames(d.push(stream.subarray(p, end))));
          p = end;
        }
        expect(p).toBe(stream.length);
        expect(got).toEqual(fs);
        expect(d.bufferedBytes).toBe(0);
      }),
    );
  });

  it('resynchronises after garbage and after a corrupted frame', () => {
    const a = { seq: 1, type: 1, code: 2, payload: Buffer.from('first') };
    const b = { seq: 2, type: 1, code: 3, payload: Buffer.from('second') };
    const bad = encodeFrame(a);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
    const d = new FrameDecoder();
    const out = d.push(Buffer.concat([Buffer.from([0x00, 0xa5, 0x01]), bad, encodeFrame(b)]));
    expect(frames(out)).toEqual([b]);
    expect(out.some((i) => 'corrupt' in i && i.corrupt.reason === 'bad-crc')).toBe(true);
  });

  it('abandons a stalled partial frame after the inter-byte timeout', async () => {
    const p = new FrameParser({ interByteTimeoutMs: 20 });
    const got: Frame[] = [];
    const corrupt: string[] = [];
    p.on('data', (f: Frame) => got.push(f));
    p.on('corrupt', (c: { reason: string }) => corrupt.push(c.reason));
    const good = { seq: 9, type: 2, code: 4, payload: Buffer.from('ok') };
    // A start byte announcing a long frame that never comes, then (later) a good frame.
    p.write(Buffer.from([0xa5, 0x10, 0x00, 0x01]));
    await new Promise((r) => setTimeout(r, 60));
    p.write(encodeFrame(good));
    await new Promise((r) => setImmediate(r));
    expect(corrupt).toContain('stalled');
    expect(got).toEqual([good]);
    p.destroy();
  });

  it('keeps no reference to the chunks it was given (a reader may reuse its buffer)', () => {
    const f = { seq: 1, type: 2, code: 3, payload: Buffer.from('payload of a frame') };
    const bytes = encodeFrame(f);
    const d = new FrameDecoder();
    const reused = Buffer.alloc(bytes.length);
    bytes.copy(reused, 0, 0, 12);
    expect(frames(d.push(reused.subarray(0, 12)))).toEqual([]);
    reused.fill(0xee); // the reader's next read lands in the same buffer
    bytes.copy(reused, 0, 12);
    const got = frames(d.push(reused.subarray(0, bytes.length - 12)));
    expect(got).toEqual([f]);
    reused.fill(0xee);
    expect(got[0]!.payload.toString()).toBe('payload of a frame');
    // A whole frame in one chunk: its payload is a copy too.
    bytes.copy(reused);
    const whole = frames(d.push(reused));
    reused.fill(0xee);
    expect(whole).toEqual([f]);
  });

  it('gives a slow frame the inter-byte timeout from its latest byte, not its first', async () => {
    const got: Frame[] = [];
    const corrupt: string[] = [];
    const r = new FrameReceiver(
      { frame: (f) => got.push(f), corrupt: (c) => corrupt.push(c.reason) },
      { interByteTimeoutMs: 150 },
    );
    const good = { seq: 3, type: 2, code: 5, payload: Buffer.alloc(20, 7) };
    const bytes = encodeFrame(good);
    // A byte every 15 ms: over 400 ms in all, far beyond the timeout, never 150 ms without one.
    for (let i = 0; i < bytes.length; i++) {
      r.push(bytes.subarray(i, i + 1));
      await new Promise((res) => setTimeout(res, 15));
    }
    expect(corrupt).toEqual([]);
    expect(got).toEqual([good]);
    r.stop();
  });

  it('property: millions of random and mutated bytes never throw, never pass a bad CRC, stay bounded', () => {
    let total = 0;
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 30 }),
        fc.array(
          fc.record({
            at: fc.nat(),
            kind: fc.constantFrom('flip', 'drop', 'insert', 'garbage', 'sof'),
            value: fc.integer({ min: 0, max: 255 }),
            len: fc.integer({ min: 1, max: 400 }),
          }),
          { maxLength: 12 },
        ),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (fs, mutations, chunk, seed) => {
          const encoded = fs.map(encodeFrame);
          let stream = Buffer.concat(encoded);
          let rnd = seed;
          const next = (): number => {
            rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0;
            return rnd >>> 16;
          };
          for (const m of mutations) {
            const at = stream.length ? m.at % stream.length : 0;
            if (m.kind === 'flip' && stream.length) {
              stream = Buffer.from(stream);
              stream[at] = stream[at]! ^ (1 << (m.value % 8));
            } else if (m.kind === 'drop') {
              stream = Buffer.concat([stream.subarray(0, at), stream.subarray(at + m.len)]);
            } else if (m.kind === 'insert') {
              stream = Buffer.concat([
                stream.subarray(0, at),
                Buffer.from([m.value]),
                stream.subarray(at),
              ]);
            } else if (m.kind === 'sof') {
              // A plausible header claiming a big payload, the decoder's worst case.
              const h = Buffer.from([0xa5, (m.value * 31) & 0x1f, m.value, 0, 1, 2, 0]);
              h[6] = crc8(h, 1, 6);
              stream = Buffer.concat([stream.subarray(0, at), h, stream.subarray(at)]);
            } else {
              const g = Buffer.alloc(m.len);
              for (let i = 0; i < g.length; i++) g[i] = next() & 0xff;
              stream = Buffer.concat([stream.subarray(0, at), g, stream.subarray(at)]);
            }
          }
          // Pad with random bytes so the run totals millions of bytes.
          const noise = Buffer.alloc(20_000);
          for (let i = 0; i < noise.length; i++) noise[i] = next() & 0xff;
          stream = Buffer.concat([noise.subarray(0, next() % 4000), stream, noise]);
          total += stream.length;
          const d = new FrameDecoder();
          const sent = new Set(encoded.map((e) => e.toString('hex')));
          let accepted = 0;
          let mostBuffered = 0;
          for (let p = 0; p < stream.length; p += chunk) {
            const items = d.push(stream.subarray(p, p + chunk));
            for (const f of frames(items)) {
              // The bytes the decoder accepted must be in the stream with a correct CRC: a
              // frame decoded from bytes whose CRC failed would re-encode to bytes not there.
              const bytes = encodeFrame(f);
              expect(stream.indexOf(bytes)).toBeGreaterThanOrEqual(0);
              if (sent.has(bytes.toString('hex'))) accepted++;
            }
            mostBuffered = Math.max(mostBuffered, d.bufferedBytes);
          }
          // (checked once a run: an expect() per chunk of one byte costs more than the decoding)
          expect(mostBuffered).toBeLessThan(MAX_FRAME_SIZE);
          // Without mutations every frame comes through.
          if (!mutations.length) expect(accepted).toBe(fs.length);
        },
      ),
      { numRuns: 120 },
    );
    expect(total).toBeGreaterThan(2_000_000);
  });

  it('finds every untouched frame in a mutated stream', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 3, maxLength: 10 }),
        fc.nat(),
        fc.integer({ min: 1, max: 700 }),
        (fs, which, chunk) => {
          const encoded = fs.map(encodeFrame);
          const victim = which % encoded.length;
          const mutated = encoded.map((e, i) => {
            if (i !== victim) return e;
            const c = Buffer.from(e);
            c[c.length - 1] = c[c.length - 1]! ^ 0x01;
            return c;
          });
          const stream = Buffer.concat(mutated);
          const d = new FrameDecoder();
          const got: Frame[] = [];
          for (let p = 0; p < stream.length; p += chunk)
            got.push(...frames(d.push(stream.subarray(p, p + chunk))));
          // Flush a possibly stalled tail, as the inter-byte timeout would.
          while (d.hasPartial) got.push(...frames(d.dropPartial()));
          const expected = fs.filter((_, i) => i !== victim);
          for (const f of expected) expect(got).toContainEqual(f);
          expect(got).not.toContainEqual(fs[victim]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
