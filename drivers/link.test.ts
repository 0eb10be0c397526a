/**
 * The link layer over an in-memory byte pipe: duplicate suppression by sequence number, bounded
 * retransmission, and what happens to late and unexpected frames. (The same link over the real
 * serial stack and the simulator is tested in test/devices-serial.test.ts.)
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameDecoder, type Frame } from './frame.ts';
import { FrameType, Link, LinkError, type LinkOptions } from './link.ts';
import { TransportClosedError, type Transport } from './transport.ts';

/** One end of an in-memory pipe; bytes written arrive at the peer on the next tick. */
class MemoryEnd extends EventEmitter implements Transport {
  peer: MemoryEnd | undefined;
  open = true;
  /** Every write, as the frames it carried. */
  readonly writes: Frame[][] = [];
  readonly description = 'memory';
  readonly bytesPerSecond = undefined;
  get isOpen(): boolean {
    return this.open;
  }
  async write(data: Buffer): Promise<void> {
    if (!this.open) throw new TransportClosedError('memory');
    const peer = this.peer;
    const copy = Buffer.from(data);
    this.writes.push(new FrameDecoder().push(copy).flatMap((i) => ('frame' in i ? [i.frame] : [])));
    setImmediate(() => {
      if (peer?.open) peer.emit('data', copy);
    });
  }
  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.emit('close', { disconnected: false });
  }
  async reopen(): Promise<void> {
    this.open = true;
  }
}

const links: Link[] = [];
afterEach(async () => {
  for (const l of links.splice(0)) await l.close().catch(() => undefined);
});

/** A station link and a device link joined by a pipe; `deviceFilter` may drop device frames. */
function pair(
  stationOpts: LinkOptions = {},
  deviceFilter?: (frame: Frame) => boolean,
  deviceOpts: LinkOptions = {},
): { station: Link; device: Link; stationEnd: MemoryEnd } {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  const station = new Link(a, stationOpts);
  const device = new Link(b, {
    ...deviceOpts,
    outgoingFilter: (bytes, frame) => (deviceFilter && !deviceFilter(frame) ? null : bytes),
  });
  links.push(station, device);
  return { station, device, stationEnd: a };
}

const kinds = (fs: Frame[]): string =>
  fs
    .map((f) =>
      Object.keys(FrameType).find((k) => FrameType[k as keyof typeof FrameType] === f.type),
    )
    .join('+');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function commandsSent(link: Link, code: number): number {
  return link
    .recentHistory()
    .filter((h) => h.dir === 'tx' && h.frame?.type === FrameType.COMMAND && h.frame.code === code)
    .length;
}

describe('link', () => {
  it('runs a retransmitted command once: the duplicate is acknowledged, not acted on', async () => {
    // The device's first acknowledgement of the command (seq 1; HELLO was seq 0) is lost.
    let lost = 0;
    const { station, device } = pair({ ackTimeoutMs: 30 }, (f) => {
      return !(f.type === FrameType.ACK && f.seq === 1 && ++lost === 1);
    });
    let runs = 0;
    device.setCommandHandler(async (code, payload) => {
      runs++;
      await sleep(200); // a slow mechanical move: the station resends meanwhile
      return { status: 0, payload: Buffer.concat([Buffer.from([code]), payload]) };
    });
    await station.hello();
    // READ_SERIAL: a free command (guarded ones need a permit, see drivers/permit.ts).
    const res = await station.request(0x11, Buffer.from('read'), { timeoutMs: 2000 });
    expect(res.payload.toString()).toBe('\u0011read');
    expect(commandsSent(station, 0x11)).toBe(2);
    expect(lost).toBeGreaterThan(1);
    expect(runs).toBe(1);
  });

  it('hands a response received twice to its caller once', async () => {
    let acks = 0;
    // The station's first acknowledgement (of the device's response) is lost: the device resends.
    const { station, device } = pair({
      outgoingFilter: (bytes, f) => (f.type === FrameType.ACK && ++acks === 1 ? null : bytes),
    });
    device.setCommandHandler(async () => ({ status: 0, payload: Buffer.from('ok') }));
    const warnings: string[] = [];
    station.on('warning', (w: string) => warnings.push(w));
    await station.hello();
    let answers = 0;
    const res = await station.request(0x01);
    answers++;
    expect(res.payload.toString()).toBe('ok');
    // The device's acknowledgement timeout (400 ms by default) passes and it resends.
    const end = Date.now() + 3000;
    const responses = (): number =>
      station.recentHistory().filter((h) => h.dir === 'rx' && h.frame?.type === FrameType.RESPONSE)
        .length;
    while (responses() < 2 && Date.now() < end) await sleep(20);
    expect(responses()).toBe(2);
    expect(answers).toBe(1);
    // The duplicate is dropped by sequence number before it could look like a stray answer.
    expect(warnings.filter((w) => /unexpected response/.test(w))).toEqual([]);
  });

  it('gives up after the bounded number of retransmissions with no-ack, never success', async () => {
    const { station, device } = pair({ ackTimeoutMs: 20, maxRetransmissions: 3 }, (f) => {
      return !(f.type === FrameType.ACK && f.seq !== 0);
    });
    let runs = 0;
    device.setCommandHandler(async () => {
      runs++;
      return null; // deliberately unanswered
    });
    await station.hello();
    const e = await station.request(0x02).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LinkError);
    expect((e as LinkError).kind).toBe('no-ack');
    expect((e as Error).message).toMatch(/after 4 attempts/);
    expect(commandsSent(station, 0x02)).toBe(4);
    expect(runs).toBe(1);
  });

  it('refuses a payload larger than one frame without sending anything', async () => {
    const { station } = pair();
    await station.hello();
    const before = station.recentHistory().length;
    await expect(station.request(0x18, Buffer.alloc(8193))).rejects.toMatchObject({
      kind: 'too-large',
    });
    expect(station.recentHistory().length).toBe(before);
  });
});

describe('link writes and timers', () => {
  /** A device that answers every command with its code and payload, counting runs per payload. */
  function echo(device: Link): Map<string, number> {
    const runs = new Map<string, number>();
    device.setCommandHandler(async (code, payload) => {
      runs.set(payload.toString(), (runs.get(payload.toString()) ?? 0) + 1);
      return { status: 0, payload: Buffer.concat([Buffer.from([code]), payload]) };
    });
    return runs;
  }

  it('sends the frames queued in one turn in one write: pipelined commands, an ACK and the next command', async () => {
    const { station, device, stationEnd } = pair();
    echo(device);
    await station.hello();
    stationEnd.writes.length = 0;
    const answers = await Promise.all(
      ['a', 'b', 'c'].map((p) => station.request(0x11, Buffer.from(p))),
    );
    expect(answers.map((r) => r.payload.toString())).toEqual(['\u0011a', '\u0011b', '\u0011c']);
    expect(kinds(stationEnd.writes[0]!)).toBe('COMMAND+COMMAND+COMMAND');
    // The acknowledgement of the last answer leaves with the command its caller sends next.
    stationEnd.writes.length = 0;
    await station.request(0x11, Buffer.from('d'));
    await station.request(0x11, Buffer.from('e'));
    expect(stationEnd.writes.map(kinds)).toContain('ACK+COMMAND');
  });

  it('resends a frame lost from a coalesced write, alone, and runs every command once', async () => {
    let dropped = 0;
    const { station, device, stationEnd } = pair({
      ackTimeoutMs: 40,
      outgoingFilter: (bytes, f) =>
        f.type === FrameType.COMMAND && f.payload.toString() === 'b' && ++dropped === 1
          ? null
          : bytes,
    });
    const runs = echo(device);
    await station.hello();
    stationEnd.writes.length = 0;
    const answers = await Promise.all(
      ['a', 'b', 'c'].map((p) => station.request(0x11, Buffer.from(p))),
    );
    expect(answers.map((r) => r.payload.toString())).toEqual(['\u0011a', '\u0011b', '\u0011c']);
    expect(kinds(stationEnd.writes[0]!)).toBe('COMMAND+COMMAND');
    const resent = station.recentHistory().filter((h) => h.retransmission);
    expect(resent.map((h) => h.frame?.payload.toString())).toEqual(['b']);
    expect([...runs]).toEqual([
      ['a', 1],
      ['c', 1],
      ['b', 1],
    ]);
  });

  it('resends at once a frame the peer NAKs from the middle of a coalesced write', async () => {
    let corrupted = 0;
    const { station, device, stationEnd } = pair({
      // Far beyond the test's time: only the NAK can bring the resend.
      ackTimeoutMs: 5000,
      outgoingFilter: (bytes, f) => {
        if (f.type !== FrameType.COMMAND || f.payload.toString() !== 'b' || ++corrupted > 1)
          return bytes;
        const bad = Buffer.from(bytes);
        bad[bad.length - 1]! ^= 0xff;
        return bad;
      },
    });
    const runs = echo(device);
    await station.hello();
    stationEnd.writes.length = 0;
    const t0 = Date.now();
    const answers = await Promise.all(
      ['a', 'b', 'c'].map((p) => station.request(0x11, Buffer.from(p))),
    );
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(answers.map((r) => r.payload.toString())).toEqual(['\u0011a', '\u0011b', '\u0011c']);
    // The damaged frame went out between its neighbours, in one write.
    expect(stationEnd.writes[0]!.length).toBe(2);
    expect(
      device.recentHistory().some((h) => h.dir === 'bad' && h.corrupt?.reason === 'bad-crc'),
    ).toBe(true);
    expect(
      station
        .recentHistory()
        .filter((h) => h.retransmission)
        .map((h) => h.frame?.payload.toString()),
    ).toEqual(['b']);
    expect([...runs.values()]).toEqual([1, 1, 1]);
  });

  it('keeps each unacknowledged frame to its own deadline', async () => {
    // The device acknowledges nothing but the HELLO: every command frame waits for its timer.
    const { station, device } = pair({ ackTimeoutMs: 150, maxRetransmissions: 1 }, (f) => {
      return !(f.type === FrameType.ACK && f.seq !== 0);
    });
    device.setCommandHandler(async () => null);
    await station.hello();
    const first = station.request(0x11, Buffer.from('first')).catch((e: unknown) => e);
    await sleep(100);
    const second = station.request(0x11, Buffer.from('second')).catch((e: unknown) => e);
    expect(await first).toMatchObject({ kind: 'no-ack' });
    expect(await second).toMatchObject({ kind: 'no-ack' });
    const sent = (p: string): number[] =>
      station
        .recentHistory()
        .filter((h) => h.dir === 'tx' && h.frame?.payload.toString() === p)
        .map((h) => h.at);
    const [f0, f1] = sent('first');
    const [s0, s1] = sent('second');
    // Each resent about 150 ms after its own send, not when the other's time came.
    expect(f1! - f0!).toBeGreaterThanOrEqual(140);
    expect(s1! - s0!).toBeGreaterThanOrEqual(140);
    expect(s1! - f1!).toBeGreaterThanOrEqual(60);
  });

  it('times out each command at its own deadline, a shorter one after a longer one included', async () => {
    const { station, device } = pair();
    device.setCommandHandler(async () => null); // acknowledged, never answered
    await station.hello();
    const t0 = Date.now();
    const at = (p: Promise<unknown>): Promise<[unknown, number]> =>
      p.then(
        (v) => [v, Date.now() - t0],
        (e: unknown) => [e, Date.now() - t0],
      );
    const long = at(station.request(0x11, Buffer.from('long'), { timeoutMs: 600 }));
    const short = at(station.request(0x11, Buffer.from('short'), { timeoutMs: 100 }));
    const [shortErr, shortAt] = await short;
    const [longErr, longAt] = await long;
    expect(shortErr).toMatchObject({ kind: 'timeout', message: /within 100 ms/ });
    expect(longErr).toMatchObject({ kind: 'timeout', message: /within 600 ms/ });
    expect(shortAt).toBeLessThan(400);
    expect(longAt).toBeGreaterThanOrEqual(590);
  });

  it('still sends what was queued when closed in the same turn (the last answer is acknowledged)', async () => {
    const { station, device } = pair({}, undefined, { ackTimeoutMs: 30 });
    echo(device);
    await station.hello();
    await station.request(0x11, Buffer.from('last')).then(() => station.close());
    await sleep(150);
    // Without the acknowledgement the device would have resent its answer by now.
    expect(device.recentHistory().filter((h) => h.retransmission)).toEqual([]);
  });
});
