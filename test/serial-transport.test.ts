/**
 * The serial transport on its own, over socat ptys: writes bigger than the OS buffer takes at
 * once (the rest waits for the poller, in order), and a port that goes away under a write.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SerialTransport } from '../drivers/serial.ts';
import type { CloseInfo } from '../drivers/transport.ts';
import { closeAllSocatPairs, createSocatPair } from './helpers/socat.ts';

const open: SerialTransport[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close().catch(() => undefined);
  await closeAllSocatPairs();
});

async function ends(): Promise<{
  a: SerialTransport;
  b: SerialTransport;
  unplug: () => Promise<void>;
}> {
  const pair = await createSocatPair();
  // No presence check: the port itself must tell that the device went away.
  const opts = { assertModemLines: false, presenceCheckMs: 0 };
  const a = await SerialTransport.open(pair.stationPath, opts);
  const b = await SerialTransport.open(pair.devicePath, opts);
  open.push(a, b);
  return { a, b, unplug: () => pair.unplug() };
}

function collect(t: SerialTransport, bytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  return new Promise((resolve) => {
    const onData = (d: Buffer): void => {
      parts.push(Buffer.from(d));
      got += d.length;
      if (got < bytes) return;
      t.off('data', onData);
      resolve(Buffer.concat(parts));
    };
    t.on('data', onData);
  });
}

describe('serial transport', () => {
  it('writes more than the OS buffer takes at once, every byte in order', async () => {
    const { a, b } = await ends();
    const chunks = [randomBytes(300_000), Buffer.from('between'), randomBytes(200_000)];
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const received = collect(b, total);
    // Written back to back without waiting: the second and third queue behind the first.
    const writes = chunks.map((c) => a.write(c));
    await Promise.all(writes);
    expect((await received).equals(Buffer.concat(chunks))).toBe(true);
    // And the port is still in step afterwards.
    const more = collect(a, 4);
    await b.write(Buffer.from('pong'));
    expect((await more).toString()).toBe('pong');
  });

  it('fails the writes waiting for room when the device goes away, and reports a disconnect', async () => {
    const { a, b, unplug } = await ends();
    // The device end stops reading: the line backs up and the station's writes wait.
    await b.close();
    const closed = new Promise<CloseInfo>((resolve) => a.once('close', resolve));
    const waiting = a.write(randomBytes(2_000_000)).catch((e: unknown) => e);
    const behind = a.write(Buffer.from('behind')).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    await unplug();
    expect(await closed).toMatchObject({ disconnected: true });
    expect(await waiting).toMatchObject({ name: 'TransportClosedError', disconnected: true });
    expect(await behind).toMatchObject({ name: 'TransportClosedError', disconnected: true });
    expect(a.isOpen).toBe(false);
    await expect(a.write(Buffer.from('x'))).rejects.toThrow(/port is closed/);
  });

  it('notices on its own that the device went away while idle', async () => {
    const { a, unplug } = await ends();
    const closed = new Promise<CloseInfo>((resolve) => a.once('close', resolve));
    await unplug();
    expect(await closed).toMatchObject({ disconnected: true });
    await expect(a.write(Buffer.from('x'))).rejects.toThrow(/port is closed/);
  });
});
