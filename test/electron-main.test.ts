/**
 * The Electron main-process modules with a mocked `electron` (the binary cannot run here):
 * window options, navigation and new windows denied, permissions denied, the app:// protocol
 * refusing traversal, and IPC handlers that drop untrusted senders, refuse malformed arguments
 * and users without the role, against the real station core on the simulator.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const electron = vi.hoisted(() => {
  const handlers = new Map<string, (event: unknown, args: unknown) => unknown>();
  class BrowserWindow {
    static created: unknown[] = [];
    constructor(readonly options: unknown) {
      BrowserWindow.created.push(options);
    }
  }
  return {
    handlers,
    BrowserWindow,
    app: {
      requestSingleInstanceLock: vi.fn(() => false),
      quit: vi.fn(),
      isPackaged: false,
    },
    protocol: { registerSchemesAsPrivileged: vi.fn(), handle: vi.fn() },
    ipcMain: {
      handle: vi.fn((channel: string, fn: (event: unknown, args: unknown) => unknown) =>
        handlers.set(channel, fn),
      ),
      removeHandler: vi.fn((channel: string) => handlers.delete(channel)),
    },
  };
});
vi.mock('electron', () => ({ ...electron, default: electron }));

import { IPC_CALLS, ipcChannel } from '../contracts/ipc.ts';
import { forwardEvents, registerIpc } from '../electron/ipc-main.ts';
import { APP_SCHEME_PRIVILEGES, appProtocolHandler, resolveAppPath } from '../electron/protocol.ts';
import {
  CONTENT_SECURITY_POLICY,
  createWindow,
  denyPermissions,
  isTrustedSender,
  lockDownContents,
} from '../electron/security.ts';
import { prepareShell } from '../electron/shell.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import type { StationCore } from '../station/core/station-core.ts';
import { openDevCore } from './helpers/core.ts';

describe('the window', () => {
  it('has context isolation, the sandbox, no Node and web security', () => {
    createWindow('/app/preload.cjs');
    const w = (electron.BrowserWindow.created[0] as { webPreferences: unknown }).webPreferences;
    expect(w).toMatchObject({
      preload: '/app/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    });
  });

  it('denies navigation, redirects, webviews and new windows', () => {
    const contents = Object.assign(new EventEmitter(), {
      setWindowOpenHandler: vi.fn(),
    });
    const log = vi.fn();
    lockDownContents(contents as never, log);
    for (const name of ['will-navigate', 'will-redirect', 'will-attach-webview']) {
      const event = { preventDefault: vi.fn() };
      contents.emit(name, event, 'https://evil.example/');
      expect(event.preventDefault, name).toHaveBeenCalled();
    }
    const open = contents.setWindowOpenHandler.mock.calls[0]![0] as (d: { url: string }) => unknown;
    expect(open({ url: 'https://evil.example/' })).toEqual({ action: 'deny' });
  });

  it('denies every permission request and check, and sends the CSP header', () => {
    const s = {
      setPermissionRequestHandler: vi.fn(),
      setPermissionCheckHandler: vi.fn(),
      setDevicePermissionHandler: vi.fn(),
      webRequest: { onHeadersReceived: vi.fn() },
    };
    denyPermissions(s as never);
    const request = s.setPermissionRequestHandler.mock.calls[0]![0] as (...a: unknown[]) => void;
    const answer = vi.fn();
    request({}, 'media', answer);
    expect(answer).toHaveBeenCalledWith(false);
    expect((s.setPermissionCheckHandler.mock.calls[0]![0] as () => boolean)()).toBe(false);
    expect((s.setDevicePermissionHandler.mock.calls[0]![0] as () => boolean)()).toBe(false);
    const headers = s.webRequest.onHeadersReceived.mock.calls[0]![0] as (
      d: unknown,
      cb: (r: { responseHeaders: Record<string, string[]> }) => void,
    ) => void;
    let sent: Record<string, string[]> = {};
    headers({ responseHeaders: {} }, (r) => (sent = r.responseHeaders));
    expect(sent['Content-Security-Policy']).toEqual([CONTENT_SECURITY_POLICY]);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe');
  });

  it('quits when another instance holds the single-instance lock', () => {
    expect(prepareShell()).toBe(false);
    expect(electron.protocol.registerSchemesAsPrivileged).toHaveBeenCalledWith([
      APP_SCHEME_PRIVILEGES,
    ]);
    expect(electron.app.quit).toHaveBeenCalled();
  });
});

describe('the app:// protocol', () => {
  let root: string;
  beforeAll(() => {
    root = join(mkdtempSync(join(tmpdir(), 'app-proto-')), 'dist');
    mkdirSync(join(root, 'assets'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>station</title>');
    writeFileSync(join(root, 'assets', 'a.js'), 'export {}');
    writeFileSync(join(root, '..', 'secret.txt'), 'not for the page');
  });
  afterAll(() => rmSync(join(root, '..'), { recursive: true, force: true }));

  it('serves the built renderer with the CSP', async () => {
    const handler = appProtocolHandler(root);
    const r = await handler(new Request('app://station/assets/a.js'));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/javascript');
    expect(r.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(await (await handler(new Request('app://station/'))).text()).toContain('station');
  });

  it('refuses traversal, encoded or not, other hosts and other methods', async () => {
    const handler = appProtocolHandler(root);
    for (const url of [
      'app://station/%2e%2e/secret.txt',
      'app://station/..%2fsecret.txt',
      'app://station/assets/%2e%2e/%2e%2e/secret.txt',
      'app://station/..%5csecret.txt',
      'app://station/index.html%00.js',
      'app://other/index.html',
    ]) {
      // Refused, or (where the URL parser already folded the dots) a path inside the root.
      const file = resolveAppPath(root, url);
      if (file !== undefined) expect(file.startsWith(root + '/'), url).toBe(true);
      const r = await handler(new Request(url));
      expect(r.status, url).toBe(404);
      expect(await r.text()).not.toContain('not for the page');
    }
    expect(resolveAppPath(root, 'app://station/..%2f..%2fsecret.txt')).toBeUndefined();
    expect(resolveAppPath(root, 'app://other/index.html')).toBeUndefined();
    const post = await handler(new Request('app://station/index.html', { method: 'POST' }));
    expect(post.status).toBe(405);
  });
});

describe('IPC in the main process', () => {
  let core: StationCore;
  let close: () => Promise<void>;
  const trusted = { senderFrame: { url: 'app://station/index.html', parent: null } };
  const invoke = (channel: string, args: unknown, event: unknown = trusted) =>
    electron.handlers.get(channel)!(event, args) as Promise<unknown>;
  beforeAll(async () => {
    ({ core, close } = await openDevCore());
    registerIpc(electron.ipcMain as never, core, () => undefined);
  }, 30_000);
  afterAll(() => close());

  it('registers one handler per call of the contract', () => {
    expect([...electron.handlers.keys()].sort()).toEqual(
      Object.keys(IPC_CALLS)
        .map((n) => ipcChannel(n as keyof typeof IPC_CALLS))
        .sort(),
    );
  });

  it('drops calls from a subframe, another origin or no frame, running nothing', async () => {
    for (const senderFrame of [
      { url: 'app://station/index.html', parent: {} },
      { url: 'https://evil.example/', parent: null },
      { url: 'file:///app/index.html', parent: null },
      null,
    ]) {
      expect(isTrustedSender(senderFrame)).toBe(false);
      const r = await invoke(
        ipcChannel('session.signIn'),
        { username: 'supervisor', pin: DEV_PIN },
        { senderFrame },
      );
      expect(r).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    }
    expect(core.whoami()).toBeNull();
  });

  it('refuses a malformed argument naming the field', async () => {
    const r = await invoke(ipcChannel('session.signIn'), { username: 'operator', pin: 246810 });
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid-argument', field: 'pin' } });
    expect(core.whoami()).toBeNull();
  });

  it('refuses a user without the role, and serves one with it', async () => {
    expect(
      await invoke(ipcChannel('session.signIn'), { username: 'operator', pin: DEV_PIN }),
    ).toMatchObject({ ok: true, value: { role: 'operator' } });
    expect(await invoke(ipcChannel('users.list'), {})).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    await invoke(ipcChannel('session.signIn'), { username: 'supervisor', pin: DEV_PIN });
    const users = (await invoke(ipcChannel('users.list'), {})) as {
      ok: boolean;
      value: { username: string }[];
    };
    expect(users.ok).toBe(true);
    expect(users.value.map((u) => u.username)).toContain('technician');
  });

  it('sends the window the device conversation only while a technician is signed in', async () => {
    const sent: { event: string; payload: unknown }[] = [];
    const contents = {
      isDestroyed: () => false,
      send: (_channel: string, msg: { event: string; payload: unknown }) => sent.push(msg),
    };
    const stop = forwardEvents(core, contents as never);
    const frames = () => sent.filter((m) => m.event === 'terminal.frame');
    try {
      await invoke(ipcChannel('session.signIn'), { username: 'operator', pin: DEV_PIN });
      expect(await invoke(ipcChannel('status.device'), {})).toMatchObject({ ok: true });
      await new Promise((r) => setTimeout(r, 100));
      expect(frames()).toEqual([]);
      await invoke(ipcChannel('session.signIn'), { username: 'technician', pin: DEV_PIN });
      expect(await invoke(ipcChannel('status.device'), {})).toMatchObject({ ok: true });
      await expect.poll(() => frames().length).toBeGreaterThanOrEqual(2);
      expect(frames()[0]!.payload).toMatchObject({ kind: 'command', name: 'GET_STATUS' });
    } finally {
      stop();
    }
  });
});
