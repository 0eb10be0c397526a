/**
 * The sync badge of an enrolled station in the window: online while its central office
 * answers; once the office is stopped, the next exchange fails and the badge says offline with
 * the records waiting and the offline allowance left. Real central office (PGlite), real
 * enrolment through the CLI, browser mode in this process, Debian's Chromium.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_PIN, SEED_STATION } from '../simulator/seed.ts';
import { forgetSyncKeys } from '../station/sync/index.ts';
import {
  chromiumAvailable,
  launchChromium,
  screenshot,
  seriousViolations,
  signIn,
  startInProcessBrowserMode,
} from './helpers/browser.ts';
import { runCli } from './helpers/cli.ts';
import { DEV_ENV } from './intake-support.ts';
import { startTestCentral, type CentralUnderTest } from './sync-support.ts';

describe.skipIf(!chromiumAvailable())('the sync badge of an enrolled station', () => {
  const root = mkdtempSync(join(tmpdir(), 'ui-offline-'));
  const dataDir = join(root, 'data');
  const saved = { ...process.env };
  let central: CentralUnderTest;
  let station: Awaited<ReturnType<typeof startInProcessBrowserMode>>;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  const cli = (...args: string[]) => runCli(['--data-dir', dataDir, ...args]);

  beforeAll(async () => {
    Object.assign(process.env, DEV_ENV, { STATION_PIN: DEV_PIN });
    const seed = await cli('dev', 'seed', '--scenario', 'counter-day');
    expect(seed.code, seed.stderr).toBe(0);
    central = await startTestCentral();
    const { code } = await central.central.adminApi.issueEnrolCode(SEED_STATION);
    const enrol = await cli(
      'sync',
      'enrol',
      '--url',
      central.central.url,
      '--code',
      code,
      '--supervisor',
      'supervisor',
      '--user',
      'admin',
    );
    expect(enrol.code, enrol.stderr).toBe(0);
    station = await startInProcessBrowserMode({ dataDir });
    chromium = await launchChromium();
    page = await chromium.context.newPage();
    await page.goto(station.url);
  }, 90_000);

  afterAll(async () => {
    await chromium?.close();
    await station?.close();
    // The test stopped the office already; a second close may refuse.
    await central?.close().catch(() => rmSync(central.dataDir, { recursive: true, force: true }));
    forgetSyncKeys();
    for (const k of ['STATION_MODE', 'STATION_DEV_KEYS_PASSPHRASE', 'STATION_PIN'] as const) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('is online, then offline with the records waiting once the central office stops', async () => {
    await signIn(page, 'operator', DEV_PIN);
    const badge = page.getByTestId('sync-badge');
    await expect.poll(() => badge.textContent(), { timeout: 20_000 }).toMatch(/En línea/);
    await central.central.close();
    // A booklet taken in makes a record and pushes it at once: the push fails.
    await page.keyboard.press('Alt+I');
    await expect.poll(() => badge.textContent(), { timeout: 30_000 }).toMatch(/Sin conexión/);
    await expect
      .poll(() => page.getByTestId('sync-waiting').textContent(), { timeout: 10_000 })
      .toMatch(/[1-9]\d* registros en espera/);
    await expect.poll(() => badge.textContent()).toMatch(/quedan \d+ emisiones sin conexión/);
    await screenshot(page, 'sync-offline');
    expect(await seriousViolations(page)).toEqual([]);
  });
});
