/**
 * Main-process IPC, derived from the contract (GitHub Desktop's typed map, Mattermost's
 * validate-next-to-handler): one ipcMain.handle per call of IPC_CALLS. Each drops a message
 * from any sender but our app:// page's main frame, then hands the raw argument to the station
 * core's dispatcher, which validates it against the call's schema and checks the role.
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron';
import {
  IPC_CALLS,
  IPC_EVENTS,
  IPC_EVENT_CHANNEL,
  ipcChannel,
  type IpcCallName,
  type IpcEventName,
  type IpcReply,
} from '../contracts/ipc.ts';
import { dispatchCall } from '../station/core/ipc-handlers.ts';
import type { StationCore } from '../station/core/station-core.ts';
import { isTrustedSender } from './security.ts';

export const UNTRUSTED_SENDER: IpcReply<never> = {
  ok: false,
  error: { code: 'forbidden', message: 'calls are accepted from the station window only' },
};

/** Registers every call; returns what removes them again. */
export function registerIpc(
  ipcMain: IpcMain,
  core: StationCore,
  log: (line: string) => void,
): () => void {
  const names = Object.keys(IPC_CALLS) as IpcCallName[];
  for (const name of names)
    ipcMain.handle(ipcChannel(name), (event: IpcMainInvokeEvent, args: unknown) => {
      if (!isTrustedSender(event.senderFrame)) {
        log(`dropped ${name} from an untrusted sender (${event.senderFrame?.url ?? 'no frame'})`);
        return UNTRUSTED_SENDER;
      }
      return dispatchCall(core, name, args, log);
    });
  return () => names.forEach((name) => ipcMain.removeHandler(ipcChannel(name)));
}

/** Sends every station event to the window; returns what stops it. */
export function forwardEvents(core: StationCore, contents: WebContents): () => void {
  const offs = (Object.keys(IPC_EVENTS) as IpcEventName[]).map((event) =>
    core.on(event, (payload) => {
      if (!contents.isDestroyed()) contents.send(IPC_EVENT_CHANNEL, { event, payload });
    }),
  );
  return () => offs.forEach((off) => off());
}
