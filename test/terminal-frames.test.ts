/**
 * The technician's terminal, live: the station core decodes each frame of the device
 * conversation into a `terminal.frame` event, over the real browser bridge against the real
 * core on the simulator. Only a signed-in technician's page receives them (the core decides,
 * whatever the page asks); an operator's or a page with no one signed in gets none. Payloads
 * that may carry personal data or keys (APDU data, print jobs, the MRZ) go only by their shape.
 * terminal.log gives the frames so far, bounded, and a new session starts empty.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { IPC_EVENTS, TERMINAL_FRAMES, type IpcEvent } from '../contracts/ipc.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { startBridge, type Bridge } from '../station/bridge/server.ts';
import { dispatchCall } from '../station/core/ipc-handlers.ts';
import type { StationCore } from '../station/core/station-core.ts';
import { openDevCore } from './helpers/core.ts';

type Frame = IpcEvent<'terminal.frame'>;
let core: StationCore;
let close: () => Promise<void>;
let bridge: Bridge;
let page: Awaited<ReturnType<typeof connect>>;

/** A page of the bridge: calls with replies, and every event it was sent. */
async function connect(url: string) {
  const ws = new WebSocket(url);
  const events: { event: string; payload: unknown }[] = [];
  const replies = new Map<number, (r: unknown) => void>();
  ws.on('message', (d) => {
    const msg = JSON.parse(d.toString()) as {
      id?: number;
      reply?: unknown;
      event?: string;
      payload?: unknown;
    };
    if (msg.event) events.push({ event: msg.event, payload: msg.payload });
    else if (typeof msg.id === 'number') replies.get(msg.id)?.(msg.reply);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let id = 0;
  const call = (name: string, args: unknown = {}) =>
    new Promise<{ ok: boolean; value?: unknown; error?: { code: string } }>((resolve) => {
      const n = ++id;
      replies.set(n, resolve as (r: unknown) => void);
      ws.send(JSON.stringify({ id: n, name, args }));
    });
  const frames = (): Frame[] =>
    events.filter((e) => e.event === 'terminal.frame').map((e) => e.payload as Frame);
  return { ws, events, call, frames };
}

beforeAll(async () => {
  ({ core, close } = await openDevCore());
  bridge = await startBridge(core);
  page = await connect(bridge.url);
}, 30_000);
afterAll(async () => {
  page?.ws.close();
  await bridge?.close();
  await close?.();
});

describe('the terminal.frame event', () => {
  it('reaches no page while no one is signed in, nor while an operator is', async () => {
    // A device event comes in on the link (an EVT frame) with no one signed in.
    core.simulator!.inject('cover-open');
    core.simulator!.inject('cover-close');
    await new Promise((r) => setTimeout(r, 200));
    expect(await page.call('session.signIn', { username: 'operator', pin: DEV_PIN })).toMatchObject(
      { ok: true },
    );
    // The operator's work talks to the device: status, and a booklet through intake.
    expect(await page.call('status.device')).toMatchObject({ ok: true });
    expect(await page.call('intake.next', { count: 1 })).toMatchObject({ ok: true });
    core.simulator!.inject('cover-open');
    core.simulator!.inject('cover-close');
    await expect
      .poll(() => page.events.filter((e) => e.event === 'device.event').length)
      .toBeGreaterThan(0);
    expect(page.frames()).toEqual([]);
    expect(await page.call('terminal.log')).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    await page.call('session.signOut');
  }, 30_000);

  it("streams a technician's page each frame both ways, decoded, without personal data", async () => {
    expect(
      await page.call('session.signIn', { username: 'technician', pin: DEV_PIN }),
    ).toMatchObject({ ok: true });
    expect(await page.call('status.device')).toMatchObject({ ok: true });
    await expect.poll(() => page.frames().length).toBeGreaterThanOrEqual(4);
    const getStatus = page.frames().filter((f) => f.name === 'GET_STATUS');
    expect(getStatus.map((f) => [f.dir, f.kind])).toEqual([
      ['tx', 'command'],
      ['rx', 'response'],
    ]);
    expect(getStatus[1]).toMatchObject({
      status: 'OK',
      detail: expect.stringMatching(/^[0-9a-f]+$/),
    });
    expect(page.frames().some((f) => f.kind === 'ack' && f.dir === 'rx')).toBe(true);

    // An APDU's data (here a SELECT of the eMRTD application) and the MRZ read back never go out.
    const apdu = '00a4040c07a0000002471001';
    const sent = await page.call('terminal.send', { command: 'TRANSCEIVE', payloadHex: apdu });
    expect(sent).toMatchObject({ ok: true, value: { status: expect.any(String) } });
    // The same through TRANSCEIVE_COLLECT, which the encoder client sends to an encoder that
    // collects 61xx answers itself: its APDUs carry the same data.
    const collected = await page.call('terminal.send', {
      command: 'TRANSCEIVE_COLLECT',
      payloadHex: apdu,
    });
    expect(collected).toMatchObject({ ok: true, value: { status: expect.any(String) } });
    await page.call('terminal.send', { command: 'READ_MRZ' });
    core.simulator!.inject('cover-open');
    await expect.poll(() => page.frames().some((f) => f.name === 'COVER_OPENED')).toBe(true);
    core.simulator!.inject('cover-close');
    const frames = page.frames();
    expect(frames.find((f) => f.kind === 'command' && f.name === 'TRANSCEIVE')).toMatchObject({
      detail: 'APDU 00a4040c +8 bytes (not shown)',
    });
    expect(
      frames.find((f) => f.kind === 'command' && f.name === 'TRANSCEIVE_COLLECT'),
    ).toMatchObject({ detail: 'APDU 00a4040c +8 bytes (not shown)' });
    expect(frames.find((f) => f.kind === 'event' && f.name === 'COVER_OPENED')).toMatchObject({
      dir: 'rx',
    });
    expect(JSON.stringify(page.events)).not.toContain('a0000002471001');
    for (const f of frames) expect(IPC_EVENTS['terminal.frame'].payload.parse(f)).toEqual(f);
    // Numbered in order, once each; terminal.log gives the same frames.
    const ids = frames.map((f) => f.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    await new Promise((r) => setTimeout(r, 100));
    const log = await page.call('terminal.log');
    expect(log.ok).toBe(true);
    expect(log.value).toEqual(page.frames());
    const filtered = (await page.call('terminal.log', { filter: 'get_status' })).value as Frame[];
    expect(filtered.length).toBe(2);
    expect(filtered.every((f) => f.name === 'GET_STATUS')).toBe(true);
  }, 30_000);

  it(`keeps the newest ${TERMINAL_FRAMES} frames, and a new session starts with none`, async () => {
    for (let i = 0; i < TERMINAL_FRAMES / 4 + 10; i++)
      await dispatchCall(core, 'status.device', {});
    const log = (await dispatchCall(core, 'terminal.log', {})) as { ok: true; value: Frame[] };
    expect(log.value).toHaveLength(TERMINAL_FRAMES);
    expect(log.value.at(-1)!.id - log.value[0]!.id).toBe(TERMINAL_FRAMES - 1);
    // Every frame reached the page too before the session ends.
    await expect.poll(() => page.frames().at(-1)?.id).toBe(log.value.at(-1)!.id);
    const before = page.frames().length;
    await page.call('session.signOut');
    await dispatchCall(core, 'session.signIn', { username: 'operator', pin: DEV_PIN });
    await dispatchCall(core, 'status.device', {});
    await dispatchCall(core, 'session.signIn', { username: 'technician', pin: DEV_PIN });
    expect(await dispatchCall(core, 'terminal.log', {})).toEqual({ ok: true, value: [] });
    await new Promise((r) => setTimeout(r, 100));
    expect(page.frames().length).toBe(before);
  }, 30_000);
});
