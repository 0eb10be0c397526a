/**
 * UI test support: starts the station in browser mode (the real core, the simulator over the
 * real serial stack, the loopback WebSocket bridge), drives Debian's Chromium with
 * playwright-core, keeps a screenshot per test in test/screenshots/, and runs axe.
 */
import AxeBuilder from '@axe-core/playwright';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startBrowserMode as startBrowserMode_, type BrowserMode } from '../../cli/browser-mode.ts';
import { enterDevelopmentMode } from '../../station/core/open.ts';
import { acquireStationLock } from '../../station/station-lock.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = join(import.meta.dirname, '..', 'screenshots');
const ROOT = join(import.meta.dirname, '..', '..');
/** The page URL the station prints in browser mode: the bridge's port and token in the fragment. */
const URL_LINE = /(http:\/\/127\.0\.0\.1:\d+\/\S*#port=\d+&token=[\w-]+)/;

export interface RunningBrowserMode {
  url: string;
  dataDir: string;
  /** Everything the station printed, for a failing test's message. */
  output: () => string;
  close: () => Promise<void>;
}

/**
 * Browser mode in this process (cli/browser-mode.ts), so a test reaches the core itself: its
 * development-only hooks (the simulator's faults) are on the core, never in the contract.
 */
export async function startInProcessBrowserMode(
  opts: { scenario?: string; dataDir?: string } = {},
): Promise<{ mode: BrowserMode; url: string; close: () => Promise<void> }> {
  enterDevelopmentMode(true);
  const dataDir = opts.dataDir ?? join(mkdtempSync(join(tmpdir(), 'station-ui-')), 'data');
  const lock = acquireStationLock(dataDir, { command: 'ui test' });
  let mode: BrowserMode;
  try {
    mode = await startBrowserMode_({
      dataDir,
      lock,
      lang: 'es',
      ...(opts.scenario ? { scenario: opts.scenario } : {}),
    });
  } catch (e) {
    lock.release();
    throw e;
  }
  if (!mode.pageUrl) throw new Error('browser mode serves no renderer (renderer/vite.config.ts)');
  return {
    mode,
    url: mode.pageUrl,
    close: async () => {
      await mode.close();
      lock.release();
      if (!opts.dataDir) rmSync(join(dataDir, '..'), { recursive: true, force: true });
    },
  };
}

/** The command that starts browser mode (STATION_BROWSER_CMD overrides it, split on spaces). */
function browserModeCommand(): string[] {
  const cmd = process.env.STATION_BROWSER_CMD ?? 'node bin/station.mjs desktop --dev --browser';
  return cmd.split(' ').filter(Boolean);
}

/** Starts the station in browser mode on a fresh data directory; resolves with its page URL. */
export async function startBrowserMode(
  opts: {
    scenario?: string;
    env?: Record<string, string>;
    timeoutMs?: number;
    /** A data directory to keep (a station seeded by an earlier run); default a fresh one. */
    dataDir?: string;
    args?: string[];
  } = {},
): Promise<RunningBrowserMode & { startedMs: number }> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'station-ui-'));
  const [cmd, ...args] = browserModeCommand();
  const t0 = performance.now();
  const child: ChildProcess = spawn(
    cmd!,
    [...args, ...(opts.args ?? []), ...(opts.scenario ? ['--scenario', opts.scenario] : [])],
    {
      cwd: ROOT,
      env: { ...process.env, STATION_DATA_DIR: dataDir, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`browser mode printed no page URL in time:\n${out}`)),
      opts.timeoutMs ?? 30_000,
    );
    const onData = (b: Buffer): void => {
      out += b.toString();
      const m = URL_LINE.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`browser mode exited (${code}) before printing its URL:\n${out}`));
    });
  });
  return {
    url,
    dataDir,
    startedMs: t0,
    output: () => out,
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.stdin!.end('quit\n');
        child.kill('SIGINT');
        await exited;
      }
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

/**
 * Debian's Chromium, headless, with nothing reaching out to the network, on a fresh profile
 * (playwright takes the --user-data-dir as launchPersistentContext's first argument).
 */
export async function launchChromium(): Promise<{
  context: BrowserContext;
  close: () => Promise<void>;
}> {
  const profile = mkdtempSync(join(tmpdir(), 'station-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves test/screenshots/<name>.png (the folder the run keeps). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** axe's serious and critical violations on the page as it is, one line each. */
export async function seriousViolations(page: Page): Promise<string[]> {
  const r = await new AxeBuilder({ page }).analyze();
  return r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`,
    );
}

/** Signs in through the form, as a person would: keyboard only. */
export async function signIn(page: Page, username: string, pin: string): Promise<void> {
  await page.locator('#username').fill(username);
  await page.locator('#pin').fill(pin);
  await page.keyboard.press('Enter');
  await page.locator('header .who').waitFor();
}
