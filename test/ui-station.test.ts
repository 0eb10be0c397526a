/**
 * The window in browser mode against the real station core and the simulator over the real
 * serial stack (scenario counter-day: applications in the queue, our booklets and one of the
 * Foreign Ministry's), driven through Debian's Chromium: sign-in; personalize to issued with the
 * data page previewed; a jam pauses the job with what to do and it resumes; the foreign booklet's
 * refusal screen; the sync badge; a supervisor reviews and closes the day; every screen passes
 * axe (no serious or critical violation). Each step keeps a screenshot in test/screenshots/.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_PIN } from '../simulator/seed.ts';
import {
  chromiumAvailable,
  launchChromium,
  screenshot,
  seriousViolations,
  signIn,
  startInProcessBrowserMode,
} from './helpers/browser.ts';

describe.skipIf(!chromiumAvailable())('the station window in browser mode', () => {
  let station: Awaited<ReturnType<typeof startInProcessBrowserMode>>;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  /** What the page sent and received over the bridge's WebSocket. */
  const sent: { name?: string }[] = [];
  const received: { event?: string; payload?: unknown }[] = [];

  beforeAll(async () => {
    station = await startInProcessBrowserMode({ scenario: 'counter-day' });
    chromium = await launchChromium();
    page = await chromium.context.newPage();
    page.on('websocket', (ws) => {
      ws.on('framesent', (f) => sent.push(JSON.parse(String(f.payload)) as { name?: string }));
      ws.on('framereceived', (f) =>
        received.push(JSON.parse(String(f.payload)) as { event?: string }),
      );
    });
    await page.goto(station.url);
  }, 90_000);
  const terminalFrames = () => received.filter((m) => m.event === 'terminal.frame');

  afterAll(async () => {
    await chromium?.close();
    await station?.close();
  });

  async function checkScreen(name: string): Promise<void> {
    await screenshot(page, name);
    expect(await seriousViolations(page), name).toEqual([]);
  }
  const idle = () =>
    page.waitForFunction(() => !document.querySelector('.actions button[disabled]'), undefined, {
      timeout: 60_000,
    });

  it('opens on the Spanish sign-in screen, which axe passes', async () => {
    await expect
      .poll(() => page.locator('#sign-in-heading').textContent(), { timeout: 30_000 })
      .toBe('Iniciar sesión');
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

  it('a jam pauses the job with what to do; cleared, the operator resumes it and it is issued', async () => {
    station.mode.core.injectFault('jam');
    await page.keyboard.press('Alt+N');
    await expect
      .poll(() => page.getByTestId('pause-instruction').textContent(), { timeout: 30_000 })
      .toMatch(/\S/);
    await checkScreen('job-paused-jam');
    station.mode.core.injectFault('clear-jam');
    await page.getByTestId('resume').click();
    await expect
      .poll(() => page.getByTestId('perso-outcome').getAttribute('data-outcome'), {
        timeout: 60_000,
      })
      .toBe('issued');
    await expect.poll(() => page.getByTestId('pause').count()).toBe(0);
    await expect.poll(() => page.getByTestId('perso-outcome').textContent()).toContain('PA3000001');
    // The data page was laid out and shown before it printed.
    await expect.poll(() => page.locator('img.data-page').count()).toBe(1);
    await checkScreen('personalized-issued');
  });

  it('the foreign booklet shows the refusal screen with the reason and what to do', async () => {
    await idle();
    await page.keyboard.press('Alt+I');
    await idle();
    await expect
      .poll(() => page.getByTestId('refusal').getAttribute('data-reason'), { timeout: 30_000 })
      .toBe('FOREIGN_AGENCY');
    await expect
      .poll(() => page.getByTestId('refusal-reason').textContent())
      .toMatch(/otra entidad/);
    await checkScreen('refusal-foreign-booklet');
    await page.keyboard.press('Alt+D');
    await expect.poll(() => page.getByTestId('refusal').count()).toBe(0);
  });

  it('always shows the sync badge with the records waiting (this station is not enrolled)', async () => {
    const badge = page.getByTestId('sync-badge');
    await expect.poll(() => badge.textContent()).toMatch(/no configurada/);
    // The issuance and the refusal wait in the outbox for a central office.
    await expect
      .poll(() => page.getByTestId('sync-waiting').textContent(), { timeout: 10_000 })
      .toMatch(/[1-9]\d* registros en espera/);
  });

  it('a supervisor reviews the refusal and closes the day; every supervisor screen passes axe', async () => {
    await page.keyboard.press('Alt+Q');
    await signIn(page, 'supervisor', DEV_PIN);
    const sections = await page.locator('nav button').count();
    expect(sections).toBeGreaterThan(1);
    for (let i = 0; i < sections; i++) {
      await page.locator('nav button').nth(i).click();
      await page.locator('main h1').waitFor();
      const h1 = (await page.locator('main h1').textContent()) ?? '';
      if (h1.includes('Conciliación')) {
        await expect.poll(() => page.getByTestId('day-balance').textContent()).toMatch(/cuadra/);
        await page.getByTestId('close-day').click();
        await expect
          .poll(() => page.getByTestId('day-closed').textContent(), { timeout: 10_000 })
          .toMatch(/Cerrado por supervisor/);
        await checkScreen('supervisor-day-closed');
      } else if (h1.includes('Rechazos')) {
        await expect
          .poll(() => page.getByTestId('refusals').textContent(), { timeout: 10_000 })
          .toContain('PR0500001');
        await checkScreen('supervisor-review');
      } else await checkScreen(`supervisor-${i + 1}`);
    }
  }, 90_000);

  it('no frame of the device conversation reached the page while operator and supervisor worked', () => {
    expect(sent.some((m) => m.name === 'personalize.next')).toBe(true);
    expect(terminalFrames()).toEqual([]);
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
  }, 60_000);

  it("the technician's terminal shows the device conversation live, without polling", async () => {
    const logCalls = () => sent.filter((m) => m.name === 'terminal.log').length;
    await page.keyboard.press('Alt+Digit1');
    await expect
      .poll(() => page.locator('main h1').textContent())
      .not.toBe('Terminal del dispositivo');
    const before = logCalls();
    await page.keyboard.press('Alt+Digit4');
    await expect.poll(() => page.locator('main h1').textContent()).toBe('Terminal del dispositivo');
    await expect.poll(logCalls).toBe(before + 1);
    const rows = page.getByTestId('terminal-frames').locator('tbody tr');
    // A command typed in the terminal: its frames both ways.
    await page.locator('#term-command').fill('GET_COUNTERS');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByTestId('terminal-answer').textContent()).toMatch(/OK/);
    await expect
      .poll(() => rows.and(page.locator('[data-name="GET_COUNTERS"]')).count())
      .toBeGreaterThanOrEqual(2);
    // A frame the page did not cause: the device reports its cover opened.
    station.mode.core.injectFault('cover-open');
    await expect
      .poll(() => rows.and(page.locator('[data-name="COVER_OPENED"]')).count(), {
        timeout: 10_000,
      })
      .toBe(1);
    station.mode.core.injectFault('cover-close');
    await page.locator('#term-filter').fill('cover');
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-name')))).toEqual([
      'COVER_OPENED',
      'COVER_CLOSED',
    ]);
    // Frames came as events; the log was read once, when the screen opened.
    expect(terminalFrames().length).toBeGreaterThan(4);
    expect(logCalls()).toBe(before + 1);
    await checkScreen('technician-terminal-live');
  });

  // Going offline (an enrolled station whose central office stops): test/ui-offline.test.ts.
});
