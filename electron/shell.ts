/**
 * The Electron shell (docs/desktop.md): one instance, one locked-down window on app://, the
 * station core behind the contract's IPC. It holds no station logic: `openCore` (main.ts)
 * opens the station core, as the console and the bridge do.
 */
import { app, ipcMain, protocol, session, type BrowserWindow } from 'electron';
import type { StationCore } from '../station/core/station-core.ts';
import { forwardEvents, registerIpc } from './ipc-main.ts';
import { APP_ENTRY, APP_SCHEME, APP_SCHEME_PRIVILEGES, appProtocolHandler } from './protocol.ts';
import { createWindow, denyPermissions, lockDownContents } from './security.ts';

export interface ShellOptions {
  /** renderer/dist: what app:// serves. */
  rendererRoot: string;
  /** The bundled preload script. */
  preload: string;
  openCore(): Promise<StationCore>;
  log(line: string): void;
}

/** Call before app is ready (privileged schemes must be registered first). */
export function prepareShell(): boolean {
  protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES]);
  // A second instance hands over to the first (it focuses its window) and quits.
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return false;
  }
  return true;
}

export async function startShell(opts: ShellOptions): Promise<BrowserWindow> {
  await app.whenReady();
  protocol.handle(APP_SCHEME, appProtocolHandler(opts.rendererRoot));
  denyPermissions(session.defaultSession);
  app.on('web-contents-created', (_e, contents) => lockDownContents(contents, opts.log));

  const core = await opts.openCore();
  const unregister = registerIpc(ipcMain, core, opts.log);
  const win = createWindow(opts.preload);
  const stopEvents = forwardEvents(core, win.webContents);
  app.on('second-instance', () => {
    if (win.isMinimized()) win.restore();
    win.focus();
  });
  win.once('ready-to-show', () => win.show());
  win.on('closed', () => {
    stopEvents();
    unregister();
    void core.close(opts.log).finally(() => app.quit());
  });
  await win.loadURL(APP_ENTRY);
  return win;
}
