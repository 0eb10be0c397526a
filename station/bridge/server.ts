/**
 * The browser-mode bridge (docs/desktop.md): the IPC contract served by the station core over a
 * loopback WebSocket, for development and the UI tests. It listens on 127.0.0.1 only, and a
 * connection must present the per-run random token (`?token=`): a wrong or missing one is
 * refused at the handshake (HTTP 401), so the socket never opens. Every message is checked
 * (size, strict JSON, the request shape, then the call's own argument schema) before anything
 * runs. It is never part of a packaged build: the Electron shell does not import it and the
 * packaging config leaves station/bridge/ out.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  BridgeRequestSchema,
  IPC_EVENTS,
  type BridgeEvent,
  type BridgeReply,
  type IpcEventName,
} from '../../contracts/ipc.ts';
import { parseStrictJson } from '../../contracts/strict-json.ts';
import { dispatchCall } from '../core/ipc-handlers.ts';
import type { StationCore } from '../core/station-core.ts';

/** The largest message a client may send (a stock manifest is the biggest argument). */
export const MAX_BRIDGE_MESSAGE = 8 * 1024 * 1024;

export interface Bridge {
  port: number;
  token: string;
  /** The WebSocket address a client connects to. */
  url: string;
  close(): Promise<void>;
}

function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function tokenOf(req: IncomingMessage): string | null {
  try {
    return new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('token');
  } catch {
    return null;
  }
}

export async function startBridge(
  core: StationCore,
  opts: { port?: number; log?: (line: string) => void } = {},
): Promise<Bridge> {
  const log = opts.log ?? (() => undefined);
  const token = randomBytes(32).toString('base64url');
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: opts.port ?? 0,
    maxPayload: MAX_BRIDGE_MESSAGE,
    verifyClient: (info, done) => {
      if (tokenMatches(tokenOf(info.req), token)) done(true);
      else {
        log('bridge: refused a connection without the right token');
        done(false, 401, 'a valid station token is required');
      }
    },
  });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const port = (wss.address() as AddressInfo).port;

  const send = (ws: WebSocket, msg: BridgeReply | BridgeEvent): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  };
  // Every event of the contract goes to every connected page.
  const offs = (Object.keys(IPC_EVENTS) as IpcEventName[]).map((event) =>
    core.on(event, (payload) => {
      for (const ws of wss.clients) send(ws, { event, payload });
    }),
  );

  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      const refuse = (message: string): void =>
        send(ws, { id: null, reply: { ok: false, error: { code: 'invalid-argument', message } } });
      if (isBinary) return refuse('messages are JSON text');
      let msg: unknown;
      try {
        msg = parseStrictJson(data.toString('utf8'));
      } catch (e) {
        return refuse(`the message is not valid JSON: ${e instanceof Error ? e.message : ''}`);
      }
      const req = BridgeRequestSchema.safeParse(msg);
      if (!req.success) {
        const issue = req.error.issues[0];
        return refuse(
          `the message is not a request {id, name, args}: ${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}`,
        );
      }
      const { id, name, args } = req.data;
      void dispatchCall(core, name, args, log).then((reply) => send(ws, { id, reply }));
    });
  });

  return {
    port,
    token,
    url: `ws://127.0.0.1:${port}/?token=${token}`,
    close: async () => {
      for (const off of offs) off();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
