/**
 * The production renderer (renderer/dist) in Debian's Chromium under its own CSP: no inline
 * script, no eval, nothing blocked (the day's charts load as a chunk of their own, under the same
 * CSP); and with no station to reach it says so instead of showing anything it was not told.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRendererBuild } from '../cli/renderer-build.ts';
import {
  chromiumAvailable,
  launchChromium,
  screenshot,
  seriousViolations,
} from './helpers/browser.ts';

const ROOT = join(import.meta.dirname, '..');
const DIST = join(ROOT, 'renderer', 'dist');
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
};

describe.skipIf(!chromiumAvailable())('the built renderer', () => {
  let server: Server;
  let base: string;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    // The build browser mode serves (built when stale; other UI tests may be building it too).
    await ensureRendererBuild();
    server = createServer((req, res) => {
      const file = normalize(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
      try {
        const body = readFileSync(join(DIST, file || 'index.html'));
        res.writeHead(200, {
          'content-type': TYPES[extname(file || 'index.html')] ?? 'application/octet-stream',
        });
        res.end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    chromium = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await chromium?.close();
    await new Promise((r) => server?.close(r));
  });

  it('runs under its CSP with nothing blocked, and names a missing station address', async () => {
    const page = await chromium.context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => {
      if (!/station port/.test(e.message)) problems.push(e.message);
    });
    await page.goto(base);
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/no station port/);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('says the station cannot be reached when nothing listens on its port, and axe passes', async () => {
    const page = await chromium.context.newPage();
    // A port nothing listens on: the server's own port answers HTTP, not WebSocket, so use 9.
    await page.goto(`${base}#port=9&token=none`);
    await expect.poll(() => page.getByTestId('disconnected').textContent()).toMatch(/estación/);
    await screenshot(page, 'no-station');
    expect(await seriousViolations(page)).toEqual([]);
    await page.close();
  });
});
