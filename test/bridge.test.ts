/**
 * The browser-mode bridge over a real WebSocket against the real station core on the
 * simulator: the token, malformed messages, and a call round trip with its events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEV_PIN } from '../simulator/seed.ts';
import { startBridge, type Bridge } from '../station/bridge/server.ts';
import type { StationCore } from '../station/core/station-core.ts';
import { openDevCore } from './helpers/core.ts';

let core: StationCore;
let close: () => Promise<void>;
let bridge: Bridge;
beforeAll(async () => {
  ({ core, close } = await openDevCore());
  bridge = await startBridge(core);
}, 30_000);
afterAll(async () => {
  await bridge.close();
  await close();
});

/** Opens a client; resolves once open, rejects with the HTTP status when refused. */
function connect(
  url: string,
): Promise<{ ws: WebSocket; messages: unknown[]; next(): Promise<unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: unknown[] = [];
    const waiters: (() => void)[] = [];
    ws.on('message', (d) => {
      messages.push(JSON.parse(d.toString()) as unknown);
      waiters.splice(0).forEach((w) => w());
    });
    let read = 0;
    const next = async (): Promise<unknown> => {
      while (messages.length <= read) await new Promise<void>((r) => waiters.push(r));
      return messages[read++];
    };
    ws.once('open', () => resolve({ ws, messages, next }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

describe('the browser-mode bridge', () => {
  it('listens on loopback only and refuses a wrong or missing token at the handshake', async () => {
    expect(bridge.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{43}$/);
    await expect(connect(`ws://127.0.0.1:${bridge.port}/?token=wrong`)).rejects.toThrow('HTTP 401');
    await expect(connect(`ws://127.0.0.1:${bridge.port}/`)).rejects.toThrow('HTTP 401');
    const almost = bridge.token.slice(0, -1) + (bridge.token.endsWith('A') ? 'B' : 'A');
    await expect(connect(`ws://127.0.0.1:${bridge.port}/?token=${almost}`)).rejects.toThrow(
      'HTTP 401',
    );
  });

  it('answers a malformed message with an error and runs nothing', async () => {
    const c = await connect(bridge.url);
    try {
      c.ws.send('{not json');
      expect(await c.next()).toMatchObject({
        id: null,
        reply: { ok: false, error: { code: 'invalid-argument', message: /not valid JSON/ } },
      });
      c.ws.send(JSON.stringify({ id: 1, call: 'session.whoami' }));
      expect(await c.next()).toMatchObject({
        id: null,
        reply: { ok: false, error: { code: 'invalid-argument', message: /not a request/ } },
      });
      c.ws.send('{"id": 2, "id": 3, "name": "session.whoami", "args": {}}');
      expect(await c.next()).toMatchObject({ id: null, reply: { ok: false } });
      c.ws.send(
        JSON.stringify({
          id: 4,
          name: 'session.signIn',
          args: { username: 'operator', pin: DEV_PIN, role: 'admin' },
        }),
      );
      expect(await c.next()).toEqual({
        id: 4,
        reply: {
          ok: false,
          error: {
            code: 'invalid-argument',
            field: 'role',
            message: 'session.signIn: role: Unrecognized key: "role"',
          },
        },
      });
      expect(core.whoami()).toBeNull();
    } finally {
      c.ws.close();
    }
  });

  it('runs a call round trip against the real core and streams its events', async () => {
    const c = await connect(bridge.url);
    try {
      c.ws.send(
        JSON.stringify({
          id: 1,
          name: 'session.signIn',
          args: { username: 'operator', pin: DEV_PIN },
        }),
      );
      const replies: { id: number; reply: { ok: boolean; value?: unknown } }[] = [];
      const events: { event: string; payload: unknown }[] = [];
      const drain = async (untilId: number): Promise<void> => {
        for (;;) {
          const m = (await c.next()) as { id?: number; event?: string };
          if (m.event) events.push(m as (typeof events)[number]);
          else {
            replies.push(m as (typeof replies)[number]);
            if (m.id === untilId) return;
          }
        }
      };
      await drain(1);
      expect(replies[0]).toMatchObject({
        id: 1,
        reply: { ok: true, value: { username: 'operator', role: 'operator' } },
      });
      c.ws.send(JSON.stringify({ id: 2, name: 'intake.next', args: { count: 2 } }));
      await drain(2);
      const run = replies[1]!.reply as {
        ok: true;
        value: { accepted: number; refused: number; outcomes: { jobId: number }[] };
      };
      expect(run.ok).toBe(true);
      expect(run.value.accepted + run.value.refused).toBe(2);
      const outcomeEvents = events.filter((e) => e.event === 'job.outcome');
      expect(outcomeEvents.map((e) => (e.payload as { jobId: number }).jobId)).toEqual(
        run.value.outcomes.map((o) => o.jobId),
      );
      expect(events.some((e) => e.event === 'session.changed')).toBe(true);
    } finally {
      c.ws.close();
    }
  });
});
