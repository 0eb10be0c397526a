/**
 * The preload (sandboxed, context-isolated): exposes ONLY the contract's invoke and subscribe
 * as window.station. No ipcRenderer, no Node: a call name outside the contract never leaves
 * the page, and the main process checks everything again.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import {
  IPC_EVENTS,
  IPC_EVENT_CHANNEL,
  ipcChannel,
  isCallName,
  type IpcReply,
  type StationApi,
} from '../contracts/ipc.ts';

type Listener = (payload: unknown) => void;
const listeners = new Map<string, Set<Listener>>();

ipcRenderer.on(
  IPC_EVENT_CHANNEL,
  (_e: IpcRendererEvent, msg: { event: string; payload: unknown }) => {
    for (const fn of listeners.get(msg?.event) ?? []) fn(msg.payload);
  },
);

const api: StationApi = {
  invoke: (name, args) => {
    if (!isCallName(name))
      return Promise.resolve({
        ok: false,
        error: { code: 'unknown-call', message: `no call named ${String(name).slice(0, 64)}` },
      });
    return ipcRenderer.invoke(ipcChannel(name), args) as Promise<IpcReply<never>>;
  },
  subscribe: (event, fn) => {
    if (!Object.hasOwn(IPC_EVENTS, event)) return () => undefined;
    let set = listeners.get(event);
    if (!set) listeners.set(event, (set = new Set()));
    const l = fn as Listener;
    set.add(l);
    return () => void set.delete(l);
  },
};

contextBridge.exposeInMainWorld('station', api);
