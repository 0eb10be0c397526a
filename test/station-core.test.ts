/**
 * The station core over the simulator on a real serial pair: sign-in, roles refused in the
 * core, intake with its events, the inactivity lock, and the IPC dispatcher's validation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IpcEvent } from '../contracts/ipc.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { dispatchCall } from '../station/core/ipc-handlers.ts';
import type { StationCore } from '../station/core/station-core.ts';
import { PermissionError } from '../station/errors.ts';
import { openDevCore } from './helpers/core.ts';

let core: StationCore;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ core, close } = await openDevCore());
}, 30_000);
afterAll(() => close());

describe('the station core', () => {
  it('refuses work before sign-in, signs in, and says who is signed in', async () => {
    expect(core.whoami()).toBeNull();
    await expect(core.intake(1)).rejects.toThrow(/sign in first/);
    const changes: unknown[] = [];
    const off = core.on('session.changed', (s) => changes.push(s));
    const { session } = core.signIn('operator', DEV_PIN);
    off();
    expect(session).toMatchObject({ username: 'operator', role: 'operator' });
    expect(changes).toEqual([session]);
    expect(() => core.signIn('operator', 'wrong-pin')).toThrow(/unknown user or wrong PIN/);
  });

  it('checks roles in the core: an operator may not reconcile or read the audit log', () => {
    core.signIn('operator', DEV_PIN);
    expect(() => core.actor(['supervisor', 'admin'], 'reconcile the day')).toThrow(PermissionError);
  });

  it('runs intake over the simulator and emits each outcome and its steps', async () => {
    core.signIn('operator', DEV_PIN);
    const outcomes: IpcEvent<'job.outcome'>[] = [];
    const steps: IpcEvent<'job.step'>[] = [];
    const offO = core.on('job.outcome', (o) => outcomes.push(o));
    const offS = core.on('job.step', (s) => steps.push(s));
    const run = await core.intake(3);
    offO();
    offS();
    expect(run.accepted + run.refused).toBe(3);
    expect(outcomes.map((o) => o.jobId)).toEqual(run.outcomes.map((o) => o.jobId));
    // The foreign-loan scenario mixes our booklets with another agency's: at least one refused,
    // with the operator's reason and instruction.
    const refused = outcomes.find((o) => o.decision === 'refused');
    expect(refused?.message).toBeTruthy();
    expect(refused?.instruction).toBeTruthy();
    expect(steps.filter((s) => s.jobId === outcomes[0]!.jobId).at(-1)?.progress).toBe(1);
    expect(run.outcomes).toHaveLength(3);
  });

  it('emits device events with the pause they mean, in the station language', async () => {
    core.signIn('operator', DEV_PIN);
    const events: IpcEvent<'device.event'>[] = [];
    const off = core.on('device.event', (e) => events.push(e));
    core.simulator!.inject('cover-open');
    await expect.poll(() => events.length).toBeGreaterThan(0);
    expect(events[0]).toEqual({
      name: 'COVER_OPENED',
      text: 'the printer cover is open',
      pause: true,
    });
    const view = await core.deviceView();
    expect(view.pause).toEqual({ cause: 'COVER_OPENED', instruction: 'close the printer cover' });
    core.simulator!.inject('cover-close');
    await expect.poll(() => events.length).toBe(2);
    off();
  });

  it('locks the session after inactivity, announcing it', async () => {
    const { core: c2, close: close2 } = await openDevCore({ lockAfterMs: 50 });
    try {
      const changes: unknown[] = [];
      c2.on('session.changed', (s) => changes.push(s));
      c2.signIn('supervisor', DEV_PIN);
      await expect.poll(() => c2.whoami(), { timeout: 2000 }).toBeNull();
      expect(changes.at(-1)).toBeNull();
    } finally {
      await close2();
    }
  }, 30_000);
});

describe('the IPC dispatcher', () => {
  it('refuses a malformed argument naming the field, before anything runs', async () => {
    core.signIn('operator', DEV_PIN);
    const before = core.stock();
    const r = await dispatchCall(core, 'intake.next', { count: '3' });
    expect(r).toEqual({
      ok: false,
      error: {
        code: 'invalid-argument',
        field: 'count',
        message: expect.stringMatching(/^intake\.next: count: /) as string,
      },
    });
    const extra = await dispatchCall(core, 'intake.next', { count: 1, force: true });
    expect(extra.ok === false && extra.error.field).toBe('force');
    expect(core.stock()).toEqual(before);
  });

  it('refuses unknown calls, calls without sign-in, and calls the role may not make', async () => {
    expect(await dispatchCall(core, 'process.exit', {})).toMatchObject({
      ok: false,
      error: { code: 'unknown-call' },
    });
    core.signOut();
    expect(await dispatchCall(core, 'status.stock', {})).toMatchObject({
      ok: false,
      error: { code: 'not-signed-in' },
    });
    await dispatchCall(core, 'session.signIn', { username: 'operator', pin: DEV_PIN });
    expect(await dispatchCall(core, 'reconcile.day', {})).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await dispatchCall(core, 'terminal.send', { command: 'GET_STATUS' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
  });

  it('serves a supervisor the day with hourly counts and causes, and the audit check', async () => {
    const s = await dispatchCall(core, 'session.signIn', {
      username: 'supervisor',
      pin: DEV_PIN,
    });
    expect(s.ok).toBe(true);
    const day = await dispatchCall(core, 'reconcile.day', {});
    expect(day.ok).toBe(true);
    if (!day.ok) return;
    const v = day.value as {
      hourly: { refused: number }[];
      causes: { refused: Record<string, number> };
    };
    expect(v.hourly).toHaveLength(24);
    const refusedByHour = v.hourly.reduce((n, h) => n + h.refused, 0);
    const refusedByCause = Object.values(v.causes.refused).reduce((n, c) => n + c, 0);
    expect(refusedByHour).toBeGreaterThan(0);
    expect(refusedByHour).toBe(refusedByCause);
    const audit = await dispatchCall(core, 'audit.verify', {});
    expect(audit).toMatchObject({ ok: true, value: { ok: true } });
  });
});

describe('personalization through the core', () => {
  it('is not available where the scenario seeds no application data key, said plainly', async () => {
    core.signIn('operator', DEV_PIN);
    const r = await dispatchCall(core, 'personalize.next', {});
    if (core.personalizationUnavailable)
      expect(r).toMatchObject({ ok: false, error: { code: 'not-available' } });
    else expect(r).toMatchObject({ ok: true, value: { outcome: 'no-application' } });
  });

  it('issues an application; a jam pauses the job until the operator resumes it; the preview comes first', async () => {
    const { core: c2, close: close2 } = await openDevCore({ scenario: 'counter-day' });
    try {
      const paused: unknown[] = [];
      const steps: string[] = [];
      const previews: number[] = [];
      c2.on('job.paused', (p) => paused.push(p));
      c2.on('job.step', (s) => steps.push(s.step));
      c2.on('job.preview', (p) => previews.push(p.svg.length));
      await dispatchCall(c2, 'session.signIn', { username: 'operator', pin: DEV_PIN });
      expect(await dispatchCall(c2, 'job.resume', {})).toMatchObject({
        ok: false,
        error: { code: 'refused', message: 'no job is waiting for the operator' },
      });
      // A technician may not personalize: the core refuses, whatever the window offers.
      c2.injectFault('jam');
      const job = dispatchCall(c2, 'personalize.next', {});
      await expect.poll(() => paused.length, { timeout: 10_000 }).toBe(1);
      expect(paused[0]).toMatchObject({ status: 'JAM' });
      // One job at a time: another is refused while this one waits.
      expect(await dispatchCall(c2, 'intake.next', { count: 1 })).toMatchObject({
        ok: false,
        error: { code: 'refused', message: /busy/ },
      });
      c2.injectFault('clear-jam');
      expect(await dispatchCall(c2, 'job.resume', {})).toEqual({
        ok: true,
        value: { resumed: true },
      });
      const r = await job;
      expect(r).toMatchObject({ ok: true, value: { outcome: 'issued', serial: 'PA3000001' } });
      expect(paused).toEqual([paused[0], null]);
      expect(previews.length).toBe(1);
      expect([...new Set(steps)]).toEqual(['feed', 'checks', 'encode', 'verify', 'print', 'mrz']);
      expect(await dispatchCall(c2, 'personalize.preview', {})).toMatchObject({
        ok: true,
        value: { svg: expect.stringContaining('<svg') },
      });
      // The next job meets the Foreign Ministry's booklet: intake refuses it, the job goes on.
      expect(await dispatchCall(c2, 'personalize.next', {})).toMatchObject({
        ok: true,
        value: { outcome: 'issued', serial: 'PA3000002', refusals: 1 },
      });
      await dispatchCall(c2, 'session.signIn', { username: 'technician', pin: DEV_PIN });
      expect(await dispatchCall(c2, 'personalize.next', {})).toMatchObject({
        ok: false,
        error: { code: 'forbidden' },
      });
      await dispatchCall(c2, 'session.signIn', { username: 'supervisor', pin: DEV_PIN });
      expect(await dispatchCall(c2, 'refusals.list', {})).toMatchObject({
        ok: true,
        value: [{ serial: 'PR0500001', reason: 'FOREIGN_AGENCY' }],
      });
      expect(await dispatchCall(c2, 'reconcile.close', {})).toMatchObject({
        ok: true,
        value: { by: 'supervisor' },
      });
      expect(await dispatchCall(c2, 'reconcile.close', {})).toMatchObject({
        ok: false,
        error: { code: 'refused', message: /already closed/ },
      });
      expect(await dispatchCall(c2, 'reconcile.day', {})).toMatchObject({
        ok: true,
        value: { closed: { by: 'supervisor' } },
      });
      expect(await dispatchCall(c2, 'status.sync', {})).toMatchObject({
        ok: true,
        value: { state: 'not-configured', offlineAllowanceLeft: null },
      });
    } finally {
      await close2();
    }
  }, 60_000);

  it('injects faults only in development mode on the simulator', async () => {
    expect(() => core.injectFault('jam')).not.toThrow();
    core.injectFault('clear-jam');
  });
});
