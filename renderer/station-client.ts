/**
 * The renderer's one way to the station, typed from contracts/ipc.ts (types only: nothing of
 * the station is bundled). Two transports behind one interface: in Electron the preload's
 * `window.station` (a StationApi), in browser mode a loopback WebSocket whose port and per-run
 * token come from the page URL's fragment (`#port=<n>&token=<t>`).
 */
import type {
  IpcArgs,
  IpcCallName,
  IpcError,
  IpcEvent,
  IpcEventName,
  IpcReply,
  IpcResult,
  StationApi,
} from '../contracts/ipc.ts';

/** A call the station refused or could not run; `code` is the contract's error code. */
export class StationCallError extends Error {
  readonly code: IpcError['code'] | 'disconnected';
  readonly field: string | undefined;
  constructor(error: { code: IpcError['code'] | 'disconnected'; message: string; field?: string }) {
    super(error.message);
    this.name = 'StationCallError';
    this.code = error.code;
    this.field = error.field;
  }
}

export interface StationClient {
  readonly transport: 'electron' | 'browser';
  /** The call's result; a refusal or fault rejects with a StationCallError. */
  call<N extends IpcCallName>(name: N, args: IpcArgs<N>): Promise<IpcResult<N>>;
  on<E extends IpcEventName>(event: E, fn: (payload: IpcEvent<E>) => void): () => void;
  /** The link to the station was lost (browser mode: the WebSocket closed). */
  onDisconnect(fn: (reason: string) => void): () => void;
}

declare global {
  interface Window {
    station?: StationApi;
  }
}

function clientOver(
  api: StationApi,
  transport: StationClient['transport'],
  onDisconnect: StationClient['onDisconnect'],
): StationClient {
  return {
    transport,
    async call(name, args) {
      let reply;
      try {
        reply = await api.invoke(name, args);
      } catch (e) {
        throw new StationCallError({
          code: 'disconnected',
          message: e instanceof Error ? e.message : String(e),
        });
      }
      if (!reply.ok) throw new StationCallError(reply.error);
      return reply.value;
    },
    on: (event, fn) => api.subscribe(event, fn),
    onDisconnect,
  };
}

/** Port and token from `#port=<n>&token=<t>`; a clear error naming what is missing. */
export function bridgeAddress(hash: string): { port: number; token: string } {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const port = Number(params.get('port'));
  const token = params.get('token') ?? '';
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error('the page address names no station port (#port=<n>&token=<t>)');
  if (!token) throw new Error('the page address carries no station token (#port=<n>&token=<t>)');
  return { port, token };
}

type Listener = (payload: unknown) => void;

/**
 * Browser mode: requests `{id, name, args}`, replies `{id, reply}` (an IpcReply), events
 * `{event, payload}` on one WebSocket.
 */
function websocketApi(url: string): {
  api: StationApi;
  onDisconnect: StationClient['onDisconnect'];
} {
  const ws = new WebSocket(url);
  const pending = new Map<number, (r: IpcReply<unknown>) => void>();
  const listeners = new Map<string, Set<Listener>>();
  const closeListeners = new Set<(reason: string) => void>();
  let closed: string | undefined;
  let nextId = 1;
  const opened = new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('close', () => reject(new Error('cannot reach the station')), {
      once: true,
    });
  });
  opened.catch(() => undefined); // reported through the first call and onDisconnect

  ws.addEventListener('message', (m: MessageEvent) => {
    if (typeof m.data !== 'string') return;
    let msg: { id?: unknown; reply?: IpcReply<unknown>; event?: unknown; payload?: unknown };
    try {
      msg = JSON.parse(m.data) as typeof msg;
    } catch {
      return;
    }
    if (typeof msg.event === 'string') {
      for (const fn of listeners.get(msg.event) ?? []) fn(msg.payload);
      return;
    }
    if (typeof msg.id !== 'number' || !msg.reply) return;
    const done = pending.get(msg.id);
    pending.delete(msg.id);
    done?.(msg.reply);
  });
  ws.addEventListener('close', (ev: CloseEvent) => {
    closed = ev.reason || 'the link to the station closed';
    for (const done of pending.values())
      done({ ok: false, error: { code: 'internal', message: closed } });
    pending.clear();
    for (const fn of closeListeners) fn(closed);
  });

  const api: StationApi = {
    async invoke(name, args) {
      await opened;
      if (closed !== undefined) throw new Error(closed);
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve as (r: IpcReply<unknown>) => void);
        ws.send(JSON.stringify({ id, name, args }));
      });
    },
    subscribe(event, fn) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      const l = fn as Listener;
      set.add(l);
      return () => set.delete(l);
    },
  };
  return {
    api,
    onDisconnect(fn) {
      closeListeners.add(fn);
      return () => closeListeners.delete(fn);
    },
  };
}

/** Electron's preload if present, else the browser bridge named in the page URL. */
export function connectStation(): StationClient {
  if (window.station) return clientOver(window.station, 'electron', () => () => undefined);
  const { port, token } = bridgeAddress(window.location.hash);
  const { api, onDisconnect } = websocketApi(
    `ws://127.0.0.1:${port}/?token=${encodeURIComponent(token)}`,
  );
  return clientOver(api, 'browser', onDisconnect);
}
