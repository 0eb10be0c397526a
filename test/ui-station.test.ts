/**
 * The window in browser mode against the real station core and the simulator over the real
 * serial stack, driven through Debian's Chromium: sign-in, intake with a foreign booklet's
 * refusal, the sync badge, a supervisor's day and every screen checked by axe (no serious or
 * critical violation). Each step keeps a screenshot in test/screenshots/.
 *
 * Runs once the browser bridge has landed (`station start --browser`, from the core's branch);
 * until then the file is skipped, and says so.
 */
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_PIN } from '../simulator/seed.ts';
import {
  chromiumAvailable,
  launchChromium,
  screenshot,
  seriousViolations,
  signIn,
  startBrowserMode,
  type RunningBrowserMode,
} from './helpers/browser.ts';

const bridgeLanded = readFileSync(
  new URL('../cli/commands/start.ts', import.meta.url),
  'utf8',
).includes("'--browser'");

describe.skipIf(!chromiumAvailable() || !bridgeLanded)('the station window in browser mode', () => {
  let station: RunningBrowserMode;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;

  beforeAll(async () => {
    station = await startBrowserMode({ scenario: 'foreign-loan' });
    chromium = await launchChromium();
    page = await chromium.context.newPage();
    await page.goto(station.url);
  }, 90_000);

  afterAll(async () => {
    await chromium?.close();
    await station?.close();
  });

  async function checkScreen(name: string): Promise<void> {
    await screenshot(page, name);
    expect(await seriousViolations(page), name).toEqual([]);
  }

  it('opens on the Spanish sign-in screen, which axe passes', async () => {
    await expect.poll(() => page.locator('#sign-in-heading').textContent()).toBe('Iniciar sesión');
    await checkScreen('sign-in');
  });

  it('refuses a wrong PIN with the reason, then signs the operator in', async () => {
    await page.locator('#username').fill('operator');
    await page.locator('#pin').fill('000000');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByTestId('sign-in-error').textContent()).toMatch(/\S/);
    await signIn(page, 'operator', DEV_PIN);
    await expect.poll(() => page.locator('header .who').textContent()).toContain('operator');
    await checkScreen('operator');
  });

  it('always shows the sync badge, saying plainly when sync is not configured', async () => {
    const badge = page.getByTestId('sync-badge');
    await expect.poll(() => badge.textContent()).toMatch(/En línea|Sin conexión|no configurada/);
  });

  it('takes booklets in until a foreign booklet shows the refusal screen', async () => {
    let reason = '';
    for (let i = 0; i < 12 && reason !== 'FOREIGN_AGENCY'; i++) {
      await page.keyboard.press('Alt+I');
      await page.waitForFunction(() => !document.querySelector('button[disabled]'), undefined, {
        timeout: 60_000,
      });
      const refusal = page.getByTestId('refusal');
      if (await refusal.isVisible()) {
        reason = (await refusal.getAttribute('data-reason')) ?? '';
        if (reason === 'FOREIGN_AGENCY') break;
        await page.keyboard.press('Alt+D');
      }
    }
    expect(reason).toBe('FOREIGN_AGENCY');
    await expect
      .poll(() => page.getByTestId('refusal-reason').textContent())
      .toMatch(/otra entidad/);
    await checkScreen('refusal-foreign-booklet');
    await page.keyboard.press('Alt+D');
    await expect.poll(() => page.getByTestId('refusal').count()).toBe(0);
  });

  it('a supervisor sees the day reconciled, and every supervisor screen passes axe', async () => {
    await page.keyboard.press('Alt+Q');
    await signIn(page, 'supervisor', DEV_PIN);
    const sections = await page.locator('nav button').count();
    expect(sections).toBeGreaterThan(1);
    for (let i = 0; i < sections; i++) {
      await page.locator('nav button').nth(i).click();
      await page.locator('main h1').waitFor();
      const id = ((await page.locator('nav button').nth(i).textContent()) ?? `s${i}`)
        .replace(/^\d+\s*/, '')
        .toLowerCase()
        .replace(/\W+/g, '-');
      if ((await page.locator('main h1').textContent())?.includes('Conciliación'))
        await expect.poll(() => page.getByTestId('day-balance').textContent()).toMatch(/cuadra/);
      await checkScreen(`supervisor-${id}`);
    }
  });

  it('a technician sees every technician screen, which axe passes', async () => {
    await page.keyboard.press('Alt+Q');
    await signIn(page, 'technician', DEV_PIN);
    const sections = await page.locator('nav button').count();
    for (let i = 0; i < sections; i++) {
      await page.keyboard.press(`Alt+Digit${i + 1}`);
      await page.locator('main h1').waitFor();
      await checkScreen(`technician-${i + 1}`);
    }
  });

  // Blocked on the core, not faked: personalization (station/personalization) and the printer
  // fault and sync-offline hooks are not in the contract yet (see /work/wt/ui-requests.md).
  it.todo('personalizes an application to issued');
  it.todo('a jam pauses the job with what to do, and it resumes');
  it.todo('going offline shows the badge and the records waiting');
  it.todo('a supervisor closes the day');
});
