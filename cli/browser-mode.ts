/**
 * Browser mode (docs/desktop.md): the station core, the loopback bridge and the renderer — its
 * production build (renderer/dist, built first when missing or stale), or with `renderer: 'vite'`
 * Vite's development server, which follows edits — for development and the UI tests where
 * Electron cannot run. Never part of a packaged build (cli/ and station/bridge/ are left out of
 * it). The page learns the bridge's port and per-run token from its URL fragment, which never
 * reaches a server.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBridge, type Bridge } from '../station/bridge/server.ts';
import { openStation } from '../station/core/open.ts';
import type { CoreSeams, StationCore } from '../station/core/station-core.ts';
import type { StationLock } from '../station/station-lock.ts';
import type { LocalCentralOffice } from '../station/sync/local-central.ts';
import { developmentDevices } from './development-devices.ts';
import { ensureRendererBuild } from './renderer-build.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const RENDERER_DIR = join(root, 'renderer');

export interface BrowserModeOptions extends CoreSeams {
  dataDir: string;
  lock: StationLock;
  port?: string;
  scenario?: string;
  /** Development only: a central office to start with the station (station/sync/local-central.ts). */
  localCentral?: LocalCentralOffice;
  /**
   * How the page is served: `built` (default where renderer/ exists) the production build,
   * renderer/dist, built first when missing or stale, with no transform at page load and under
   * its CSP; `vite` Vite's development server, which transforms at page load and follows edits
   * (for work on the UI); `none` the bridge alone.
   */
  renderer?: 'built' | 'vite' | 'none';
  note?: (line: string) => void;
  log?: (line: string) => void;
}

export interface BrowserMode {
  core: StationCore;
  bridge: Bridge;
  /** The page to open (with the bridge in its fragment); undefined without a renderer. */
  pageUrl: string | undefined;
  close(): Promise<void>;
}

export const RENDERER_DIST = join(RENDERER_DIR, 'dist');
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
};

/** One file of renderer/dist (GET only, nothing outside it, no directory listing). */
function serveBuilt(url: string, res: ServerResponse): void {
  const path = decodeURIComponent(url.split(/[?#]/)[0] ?? '/');
  const rel = normalize(path === '/' ? '/index.html' : path).replace(/^[/\\]+/, '');
  const file = join(RENDERER_DIST, rel);
  if (!file.startsWith(RENDERER_DIST + sep) || !TYPES[extname(file)] || !existsSync(file)) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  res
    .writeHead(200, { 'content-type': TYPES[extname(file)]!, 'cache-control': 'no-store' })
    .end(readFileSync(file));
}

/** Opens the station core (the caller took the lock), the bridge, and Vite on loopback. */
export async function startBrowserMode(opts: BrowserModeOptions): Promise<BrowserMode> {
  const log = opts.log ?? (() => undefined);
  const config = join(RENDERER_DIR, 'vite.config.ts');
  const renderer = opts.renderer ?? (existsSync(config) ? 'built' : 'none');
  // The build (when stale) and the station open side by side: one waits on Vite, the other
  // mostly on the device and key custody.
  const [opened, builtRenderer] = await Promise.allSettled([
    openStation({ ...opts, development: developmentDevices }),
    renderer === 'built' ? ensureRendererBuild({ note: opts.note ?? log }) : undefined,
  ]);
  if (opened.status === 'rejected') throw opened.reason;
  const core = opened.value;
  let bridge: Bridge | undefined;
  let vite: { close(): Promise<void> } | undefined;
  try {
    if (builtRenderer.status === 'rejected')
      throw new Error(
        `cannot build the renderer: ${builtRenderer.reason instanceof Error ? builtRenderer.reason.message : String(builtRenderer.reason)}`,
      );
    bridge = await startBridge(core, { log });
    let pageUrl: string | undefined;
    if (renderer === 'built') {
      const http = createHttpServer((req, res) => serveBuilt(req.url ?? '/', res));
      vite = { close: () => new Promise<void>((resolve) => http.close(() => resolve())) };
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(0, '127.0.0.1', () => resolve());
      });
      const port = (http.address() as AddressInfo).port;
      pageUrl = `http://127.0.0.1:${port}/#port=${bridge.port}&token=${bridge.token}`;
    } else if (renderer === 'vite') {
      // Vite as middleware of our own loopback server: its standalone server would exit the
      // process on SIGTERM or end of stdin, before the station is closed.
      const { createServer } = await import('vite');
      const http = createHttpServer();
      const server = await createServer({
        configFile: config,
        root: RENDERER_DIR,
        logLevel: 'warn',
        clearScreen: false,
        appType: 'spa',
        // Its dependency cache in this checkout, not in node_modules (which may be shared).
        cacheDir: join(root, '.cache', 'vite'),
        server: { middlewareMode: true, hmr: { server: http } },
      });
      http.on('request', (req, res) => server.middlewares(req, res));
      vite = {
        close: async () => {
          await server.close();
          await new Promise<void>((resolve) => http.close(() => resolve()));
        },
      };
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(0, '127.0.0.1', () => resolve());
      });
      const port = (http.address() as AddressInfo).port;
      pageUrl = `http://127.0.0.1:${port}/#port=${bridge.port}&token=${bridge.token}`;
    }
    const b = bridge;
    const v = vite;
    return {
      core,
      bridge: b,
      pageUrl,
      close: async () => {
        await v?.close();
        await b.close();
        await core.close(log);
      },
    };
  } catch (e) {
    await vite?.close().catch(() => undefined);
    await bridge?.close().catch(() => undefined);
    await core.close(log);
    throw e;
  }
}
