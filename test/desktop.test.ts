/**
 * `npm start` as the README's first command runs it: scripts/start.mjs installs what the start
 * path needs (socat for the simulator's serial pair), then runs the desktop command from its
 * bundle (built when stale), which, where Electron's binary is missing (here: it
 * cannot be fetched), says so and starts browser mode — the station core on the simulator, the
 * loopback bridge, the renderer's production build (built when stale), the page address printed
 * — until it is stopped.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ELECTRON_DIST } from '../cli/commands/desktop.ts';
import { DEV_PIN } from '../simulator/seed.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const scripts = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'station-desktop-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('npm start', () => {
  it('installs socat first where it is missing, in the start process itself', () => {
    // No prestart script: scripts/start.mjs checks (and installs) before anything else.
    expect(scripts.prestart).toBeUndefined();
    // A PATH without socat: the start path asks for it (dry run: nothing installed here).
    const bin = join(tmp, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    for (const b of ['sh', 'ldconfig', 'grep']) {
      const found = spawnSync('sh', ['-c', `command -v ${b}`], { encoding: 'utf8' }).stdout.trim();
      if (found) symlinkSync(found, join(bin, b));
    }
    const r = spawnSync(
      process.execPath,
      [join(root, 'scripts', 'ensure-system-deps.mjs'), '--for', 'start', '--dry-run'],
      { env: { PATH: bin }, encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('start: would install Debian packages: socat\n');
    // npm start's own process on that PATH (no apt-get either): it tries, says why it could
    // not, and starts nothing.
    const start = spawnSync(process.execPath, [join(root, 'scripts', 'start.mjs'), '--dev'], {
      env: { PATH: bin },
      encoding: 'utf8',
    });
    expect(start.status).toBe(1);
    expect(start.stdout).toBe('start: installing Debian packages: socat\n');
    expect(start.stderr).toMatch(/^start: could not install socat: .*ENOENT/);
  });

  it('starts browser mode where Electron cannot run: core, simulator, a token-guarded bridge and the built renderer', async () => {
    const [node, bin, ...args] = scripts.start!.split(' ');
    expect([node, bin, ...args]).toEqual(['node', 'scripts/start.mjs', '--dev']);
    expect(existsSync(ELECTRON_DIST)).toBe(false);
    const dataDir = join(tmp, 'data');
    const env: NodeJS.ProcessEnv = { ...process.env, STATION_DATA_DIR: dataDir };
    for (const k of ['STATION_MODE', 'STATION_DEV_KEYS_PASSPHRASE', 'STATION_PIN']) delete env[k];
    const child = spawn(process.execPath, [join(root, bin!), ...args], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const killer = setTimeout(() => child.kill('SIGKILL'), 80_000);
    try {
      await expect
        .poll(() => /browser mode ready in \d+ ms/.test(stdout), { timeout: 60_000 })
        .toBe(true);
      expect(stdout).toMatch(
        /^browser mode ready in \d+ ms \(process up \d+ ms, CPU \d+ ms\); Ctrl-C stops the station$/m,
      );
      expect(stdout).toContain('*** DEVELOPMENT MODE (--dev)');
      expect(stdout).toContain(
        "Electron's binary is not installed (" +
          ELECTRON_DIST +
          ' is missing; it cannot be fetched here): starting browser mode instead',
      );
      expect(stdout).toMatch(/^no device configured: using the simulator on /m);
      // The page address carries the bridge's port and token in its fragment; without a
      // renderer in the checkout, the bridge's own address is printed.
      const m =
        /#port=(\d+)&token=([\w-]+)/.exec(stdout) ??
        /ws:\/\/127\.0\.0\.1:(\d+)\/\?token=([\w-]+)/.exec(stdout);
      expect(m, stdout).not.toBeNull();
      const [, port, token] = m!;
      // The page is the production build (its CSP, hashed assets), not Vite's development server.
      const page = /(http:\/\/127\.0\.0\.1:\d+\/)#/.exec(stdout)![1]!;
      const html = await (await fetch(page)).text();
      expect(html).toContain('http-equiv="Content-Security-Policy"');
      expect(html).toMatch(/src="\.\/assets\/index-[\w-]+\.js"/);
      expect(html).not.toContain('/@vite/client');
      const refused = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/?token=x${token}`);
        ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve(101));
        ws.on('error', () => undefined);
      });
      expect(refused).toBe(401);
      const ws = new WebSocket(`ws://127.0.0.1:${port}/?token=${token}`);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const reply = await new Promise<unknown>((resolve) => {
        ws.on('message', (d) => {
          const msg = JSON.parse(d.toString()) as { id?: number };
          if (msg.id === 1) resolve(msg);
        });
        ws.send(
          JSON.stringify({
            id: 1,
            name: 'session.signIn',
            args: { username: 'operator', pin: DEV_PIN },
          }),
        );
      });
      expect(reply).toMatchObject({ id: 1, reply: { ok: true, value: { role: 'operator' } } });
      ws.close();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stdout).toContain('closing the station');
      expect(stderr).toBe('bridge: refused a connection without the right token\n');
    } finally {
      clearTimeout(killer);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 100_000);
});
