import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { encodeFrame, type Frame } from './frame.ts';
import { fragment, HidReassembler, HidTransport, type HidDeviceLike } from './hid.ts';
import { Link } from './link.ts';

/** A stand-in for node-hid's HIDAsync: records written reports, lets the test feed input reports. */
class FakeHid extends EventEmitter implements HidDeviceLike {
  written: Buffer[] = [];
  closed = false;
  peer: FakeHid | undefined;
  dropNext = 0;
  async write(values: number[] | Buffer): Promise<number> {
    if (this.closed) throw new Error('device closed');
    const b = Buffer.from(values);
    this.written.push(b);
    if (this.peer) {
      if (this.dropNext > 0) this.dropNext--;
      // Input reports from a numbered-report device start with the report ID, like hidraw.
      else setImmediate(() => this.peer?.emit('data', b));
    }
    return b.length;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

describe('HID framing', () => {
  for (const reportSize of [8, 32, 64, 257]) {
    it(`fragments and reassembles frames across ${reportSize}-byte reports`, () => {
      const frames: Frame[] = [
        { seq: 1, type: 1, code: 0x42, payload: Buffer.alloc(1000, 0x11) },
        { seq: 2, type: 1, code: 0x01, payload: Buffer.alloc(0) },
        { seq: 3, type: 3, code: 0x8a, payload: Buffer.from('progress') },
      ];
      const stream = Buffer.concat(frames.map(encodeFrame));
      const { reports, nextCounter } = fragment(stream, reportSize, 3, 250);
      for (const r of reports) {
        expect(r.length).toBe(reportSize + 1);
        expect(r[0]).toBe(3);
      }
      expect(nextCounter).toBe((250 + reports.length) & 0xff);
      const ra = new HidReassembler(reportSize, true);
      const out = Buffer.concat(
        reports.map((r) => {
          const x = ra.accept(r);
          expect(x.lost).toBe(0);
          return x.data;
        }),
      );
      expect(out.equals(stream)).toBe(true);
    });
  }

  it('detects lost reports by the counter and rejects malformed ones', () => {
    const { reports } = fragment(Buffer.alloc(200, 1), 16, 0, 0);
    const ra = new HidReassembler(16, false);
    const unnumbered = reports.map((r) => r.subarray(1));
    expect(ra.accept(unnumbered[0]!).lost).toBe(0);
    expect(ra.accept(unnumbered[3]!).lost).toBe(2);
    expect(ra.accept(unnumbered[4]!).lost).toBe(0);
    const bad = Buffer.from(unnumbered[5]!);
    bad[1] = 200;
    expect(ra.accept(bad).error).toMatch(/claims 200 bytes/);
  });

  it('carries a link over HID, retransmits after a lost report, and reports an unplug', async () => {
    const a = new FakeHid();
    const b = new FakeHid();
    a.peer = b;
    b.peer = a;
    const opts = { reportSize: 32, reportId: 1 };
    const ta = await HidTransport.open(async () => a, opts);
    const tb = await HidTransport.open(async () => b, opts);
    const station = new Link(ta, { ackTimeoutMs: 100 });
    const device = new Link(tb);
    device.setCommandHandler(async (code, payload) => ({
      status: 0,
      payload: Buffer.concat([Buffer.from([code]), payload]),
    }));
    const lost: string[] = [];
    tb.on('lost', (w: string) => lost.push(w));
    await station.hello();

    const big = Buffer.alloc(700);
    for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
    // DEBUG and READ_MRZ: free commands (guarded ones need a permit, see drivers/permit.ts).
    const r1 = await station.request(0x0f, big);
    expect(r1.payload.equals(Buffer.concat([Buffer.from([0x0f]), big]))).toBe(true);

    // Lose the 5th report of the next command: the device notices, the frame is resent.
    let writes = 0;
    const origWrite = a.write.bind(a);
    a.write = async (v) => {
      if (++writes === 5) {
        a.written.push(Buffer.from(v));
        return Buffer.from(v).length;
      }
      return origWrite(v);
    };
    const r2 = await station.request(0x14, big);
    expect(r2.payload.subarray(1).equals(big)).toBe(true);
    expect(lost.join('\n')).toMatch(/1 HID report\(s\) lost/);
    a.write = origWrite;

    // Unplug mid-command: the pending request fails as a disconnect, never as success.
    device.setCommandHandler(() => new Promise(() => undefined));
    const pending = station.request(0x02, Buffer.alloc(0), { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    a.emit('error', new Error('could not read from HID device'));
    await expect(pending).rejects.toMatchObject({ kind: 'disconnected' });
    await expect(station.request(0x01)).rejects.toThrow(/device disconnected/);
    expect(ta.isOpen).toBe(false);
    await device.close();
  });
});
