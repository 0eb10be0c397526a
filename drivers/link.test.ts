/**
 * The link layer over an in-memory byte pipe: duplicate suppression by sequence number, bounded
 * retransmission, and what happens to late and unexpected frames. (The same link over the real
 * serial stack and the simulator is tested in test/devices-serial.test.ts.)
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { Frame } from './frame.ts';
import { FrameType, Link, LinkError, type LinkOptions } from './link.ts';
import { TransportClosedError, type Transport } from './transport.ts';

/** One end of an in-memory pipe; bytes written arrive at the peer on the next tick. */
class MemoryEnd extends EventEmitter implements Transport {
  peer: MemoryEnd | undefined;
  open = true;
  readonly description = 'memory';
  readonly bytesPerSecond = undefined;
  get isOpen(): boolean {
    return this.open;
  }
  async write(data: Buffer): Promise<void> {
    if (!this.open) throw new TransportClosedError('memory');
    const peer = this.peer;
    const copy = Buffer.from(data);
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
): { station: Link; device: Link } {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  const station = new Link(a, stationOpts);
  const device = new Link(b, {
    outgoingFilter: (bytes, frame) => (deviceFilter && !deviceFilter(frame) ? null : bytes),
  });
  links.push(station, device);
  return { station, device };
}

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
