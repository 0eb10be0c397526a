/**
 * `station desktop` (what `npm start` runs, through scripts/start.mjs): the desktop app where
 * Electron's binary is present, else — said on screen — browser mode: the station core, the
 * loopback bridge and the renderer's production build (built first when missing or stale; or
 * with --vite Vite's development server), with the page's address printed. Runs until Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { checkCanStart, enterDevelopmentMode } from '../../station/core/open.ts';
import { STATION_LANGUAGES, type StationLanguage } from '../../station/intake/messages.ts';
import { isDevelopmentMode } from '../../station/keys/open.ts';
import { LOCAL_CENTRAL_DEVELOPMENT_ONLY } from '../../station/sync/local-central.ts';
import { startBrowserMode } from '../browser-mode.ts';
import type { CliContext } from '../context.ts';
import { localCentralFor } from '../local-central-option.ts';
import { CliError } from '../errors.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Electron 42 keeps its binary here once downloaded (it downloads at first use, not install). */
export const ELECTRON_DIST = join(root, 'node_modules', 'electron', 'dist');

interface DesktopOpts {
  dev?: boolean;
  browser?: boolean;
  port?: string;
  scenario?: string;
  vite?: boolean;
  lang: string;
  withCentral?: string | boolean;
}

async function browserMode(ctx: CliContext, opts: DesktopOpts): Promise<void> {
  const dataDir = ctx.dataDir();
  checkCanStart(dataDir, opts.port, { localCentral: opts.withCentral !== undefined });
  const lock = ctx.lockStation();
  const started = Date.now();
  const mode = await startBrowserMode({
    // The production build by default (the bridge alone where renderer/ is not in the checkout).
    ...(opts.vite ? { renderer: 'vite' as const } : {}),
    dataDir,
    lock,
    ...(opts.port ? { port: opts.port } : {}),
    ...(opts.scenario ? { scenario: opts.scenario } : {}),
    ...(opts.withCentral !== undefined
      ? { localCentral: await localCentralFor(opts.withCentral, dataDir) }
      : {}),
    lang: opts.lang as StationLanguage,
    note: ctx.out,
    log: ctx.err,
  });
  try {
    if (mode.pageUrl) ctx.out(`open the station in a browser: ${mode.pageUrl}`);
    else
      ctx.out(
        `renderer/ is not in this checkout: the station bridge alone is at ${mode.bridge.url}`,
      );
    const cpu = process.cpuUsage();
    ctx.out(
      `browser mode ready in ${Date.now() - started} ms (process up ${Math.round(process.uptime() * 1000)} ms, ` +
        `CPU ${Math.round((cpu.user + cpu.system) / 1000)} ms); Ctrl-C stops the station`,
    );
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    ctx.out('closing the station');
  } finally {
    await mode.close();
  }
}

/** Electron, where its binary is present: the bundles built, then the window. */
async function electronMode(ctx: CliContext, opts: DesktopOpts): Promise<void> {
  const { prepareElectronDev } = await import('../electron-dev.ts');
  const app = await prepareElectronDev(ctx.out);
  const electronBin = (await import('electron')).default as unknown as string;
  const child = spawn(electronBin, [app.main, ...(opts.dev ? ['--dev'] : [])], {
    stdio: 'inherit',
    env: { ...process.env, STATION_DATA_DIR: ctx.dataDir() },
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code) ctx.setExitCode(code);
}

async function desktop(ctx: CliContext, opts: DesktopOpts): Promise<void> {
  if (!STATION_LANGUAGES.includes(opts.lang as StationLanguage))
    throw new CliError(`--lang must be one of ${STATION_LANGUAGES.join(', ')}`);
  for (const line of enterDevelopmentMode(opts.dev)) ctx.out(line);
  if (opts.withCentral !== undefined && !isDevelopmentMode())
    throw new CliError(LOCAL_CENTRAL_DEVELOPMENT_ONLY);
  if (!opts.browser && existsSync(ELECTRON_DIST)) {
    // The window's bundle carries no central office (cli/ and central/ stay out of it).
    if (opts.withCentral !== undefined)
      throw new CliError(
        '--with-central runs with browser mode (add --browser) or the console (station start --dev --with-central), not in the Electron window',
      );
    return electronMode(ctx, opts);
  }
  if (!opts.browser)
    ctx.out(
      `Electron's binary is not installed (${ELECTRON_DIST} is missing; it cannot be fetched here): starting browser mode instead`,
    );
  return browserMode(ctx, opts);
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('desktop')
    .description(
      "the desktop app (npm start): the Electron window where its binary is installed, else browser mode (the station core, a loopback bridge with a per-run token and the renderer's production build, built when missing or stale; the address is printed)",
    )
    .option(
      '--dev',
      'development mode (as station start --dev): the simulator when no device is configured',
    )
    .option('--browser', 'browser mode even where Electron is installed')
    .option(
      '--vite',
      "browser mode serves renderer/ with Vite's development server (follows edits; slower to start) instead of the production build",
    )
    .option(
      '--port <path>',
      'serial port of the printer + encoder (default: the remembered device)',
    )
    .option('--scenario <name>', 'simulator scenario when no device is configured')
    .option(
      '--with-central [dir]',
      'development mode only (as station start --with-central): a central office on this machine, the development station enrolled with it',
    )
    .option(
      '--lang <lang>',
      `language of the operator messages: ${STATION_LANGUAGES.join(', ')}`,
      'es',
    )
    .action((opts: DesktopOpts) => desktop(ctx, opts));
}
