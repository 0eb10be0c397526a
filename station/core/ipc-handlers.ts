/**
 * The station's side of the IPC contract (contracts/ipc.ts): one handler per call, and one
 * dispatcher that every transport (the Electron main process, the browser-mode bridge) uses.
 * The dispatcher validates the argument against the call's schema (nothing runs on a malformed
 * one), refuses a call the signed-in role may not make, runs the handler, and turns every
 * failure into a typed { code, message } error. Handlers check roles again in the core: the
 * use cases they call (requireRole) or core.actor(roles) for reads that have no use case.
 */
import {
  accessAllows,
  IPC_CALLS,
  isCallName,
  parseArgs,
  type IpcCallName,
  type IpcError,
  type IpcReply,
  type IpcResult,
} from '../../contracts/ipc.ts';
import { IntakeDeviceError } from '../intake/intake.ts';
import { DeviceError, Command, statusName } from '../../drivers/protocol.ts';
import { discoverDevices, probeSerial, saveDeviceChoice } from '../../drivers/open.ts';
import type { z } from 'zod';
import { listAudit, verifyAudit } from '../audit.ts';
import { DeviceTerminal, shownPayload } from '../device-terminal.ts';
import { AuthenticationError, PermissionError, StationError } from '../errors.ts';
import { refusalMessage } from '../intake/messages.ts';
import { getJob, jobJournal, listJobs } from '../intake/journal.ts';
import { listRecoveryDecisions } from '../personalization/recovery.ts';
import { closeDay, dayClosed } from '../day-close.ts';
import { isRefusalReason } from '../intake/reasons.ts';
import { reconcileDay } from '../reconcile.ts';
import { importManifest, allocateStock, parseSerialSpec } from '../stock.ts';
import { dayOf } from '../time.ts';
import { listUsers, type Role } from '../users.ts';
import { listQueue, openStationDataKey, take } from '../applications/index.ts';
import { hourlyFlows } from './day-charts.ts';
import {
  NotAvailableError,
  NotSignedInError,
  outcomeView,
  persoView,
  type StationCore,
} from './station-core.ts';

type Args<N extends IpcCallName> = z.infer<(typeof IPC_CALLS)[N]['args']>;
type Handler<N extends IpcCallName> = (
  core: StationCore,
  args: Args<N>,
) => IpcResult<N> | Promise<IpcResult<N>>;

const SUPERVISORS: readonly Role[] = ['supervisor', 'admin'];
const TECHNICIANS: readonly Role[] = ['technician', 'admin'];

/** The technician's terminal sessions, one per core (closed when the core closes). */
const terminals = new WeakMap<StationCore, DeviceTerminal>();

function terminalOf(core: StationCore): DeviceTerminal {
  const actor = core.actor(TECHNICIANS, 'use the device directly');
  let terminal = terminals.get(core);
  if (!terminal) {
    const t = DeviceTerminal.open(core.db, actor, core.devices, core.openCustody);
    terminals.set(core, t);
    core.onClose(() => t.close());
    terminal = t;
  }
  return terminal;
}

/** Every call of the contract: the compiler finds a missing one. */
export const HANDLERS: { [N in IpcCallName]: Handler<N> } = {
  'session.signIn': (core, a) => core.signIn(a.username, a.pin).session,
  'session.signOut': (core) => ({ signedOut: core.signOut() }),
  'session.whoami': (core) => core.whoami(),
  'session.touch': (core) => ({ lockInMs: core.touch() }),
  'status.station': (core) => core.stationSummary(),
  'status.device': (core) => core.deviceView(),
  'status.stock': (core) => core.stock(),
  'status.sync': (core) => core.syncStatus(),
  'intake.next': async (core, a) => {
    const run = await core.intake(a.count);
    const { outcomes, ...rest } = run;
    return { ...rest, outcomes: outcomes.map((o) => outcomeView(o, core.lang)) };
  },
  'personalize.next': async (core, a) =>
    persoView(
      await core.personalize(
        a.applicationId !== undefined ? { applicationId: a.applicationId } : {},
      ),
    ),
  'personalize.preview': (core) => core.preview(),
  'session.setLanguage': (core, a) => {
    core.actor();
    core.lang = a.lang;
    return { lang: core.lang };
  },
  'job.resume': (core, a) => ({ resumed: core.resume(a.giveUp ?? false) }),
  'queue.list': (core, a) =>
    listQueue(core.db, core.actor(), a.all ? { all: true } : {}).map(queueView),
  'queue.take': async (core, a) => {
    const actor = core.actor();
    const keys = await openStationDataKey(core.dataDir);
    try {
      take(core.db, keys, actor, a.id);
    } finally {
      await keys.close();
    }
    const e = listQueue(core.db, actor, { all: true }).find((q) => q.id === a.id);
    if (!e) throw new StationError(`application ${a.id} is not in the queue`, 'not_found');
    return queueView(e);
  },
  'refusals.details': (core, a) => {
    core.actor();
    const job = getJob(core.db, a.jobId);
    if (!job || job.status !== 'refused' || !job.reason || !isRefusalReason(job.reason))
      throw new StationError(`job ${a.jobId} is not a refused intake job`, 'not_found');
    const m = refusalMessage(job.reason, core.lang);
    return {
      jobId: job.id,
      serial: job.printedSerial,
      reason: job.reason,
      message: m.reason,
      instruction: m.instruction,
      at: job.finishedAt ?? job.startedAt,
      steps: jobJournal(core.db, job.id).map((s) => ({ step: s.step, at: s.at })),
    };
  },
  'reconcile.day': (core, a) => {
    core.actor(SUPERVISORS, 'reconcile the day');
    const id = core.identity;
    const date = a.date ?? dayOf(new Date(), id.timeZone);
    const r = reconcileDay(core.db, date, { stationId: id.stationId });
    const s = r.stations.find((x) => x.stationId === id.stationId);
    const {
      stationId: _s,
      date: _d,
      ...counts
    } = s ?? {
      stationId: id.stationId,
      date,
    };
    return {
      date: r.date,
      balanced: r.balanced,
      station: counts as Record<string, number>,
      ...hourlyFlows(core.db, id.stationId, date, id.timeZone),
      discrepancies: r.discrepancies,
      closed: ((c) => (c ? { at: c.at, by: c.by } : null))(dayClosed(core.db, id.stationId, date)),
    };
  },
  'reconcile.close': (core, a) => {
    const id = core.identity;
    const today = dayOf(new Date(), id.timeZone);
    return closeDay(core.db, core.actor(), {
      stationId: id.stationId,
      date: a.date ?? today,
      today,
    });
  },
  'refusals.list': (core, a) => {
    core.actor(SUPERVISORS, 'review refusals');
    return listJobs(core.db, { status: ['refused'] })
      .reverse()
      .slice(0, a.limit ?? 100)
      .map((j) => ({
        jobId: j.id,
        serial: j.printedSerial,
        reason: j.reason ?? 'unknown',
        message:
          j.reason && isRefusalReason(j.reason)
            ? refusalMessage(j.reason, core.lang).reason
            : (j.reason ?? ''),
        at: j.finishedAt ?? j.startedAt,
      }));
  },
  'recovery.list': (core, a) => listRecoveryDecisions(core.db, core.actor(), a.limit ?? 100),
  'stock.importManifest': (core, a) => {
    const r = importManifest(core.db, core.actor(), a.text);
    return { batchId: r.batchId, received: r.booklets };
  },
  'stock.allocate': (core, a) => {
    const moved = allocateStock(core.db, core.actor(), {
      batchId: a.batchId,
      serials: parseSerialSpec(a.serials),
    });
    return { allocated: moved.length };
  },
  'stock.count': (core) => {
    core.actor(SUPERVISORS, 'count the stock');
    return core.stock();
  },
  'stock.daysLeft': (core, a) => {
    core.actor(SUPERVISORS, 'see the days of stock left');
    return core.daysOfStockLeft(a.days ?? 14);
  },
  'audit.list': (core, a) => {
    core.actor(SUPERVISORS, 'read the audit log');
    return listAudit(core.db, {
      limit: a.limit ?? 100,
      ...(a.afterSeq !== undefined ? { afterSeq: a.afterSeq } : {}),
    }).map((e) => ({
      seq: e.seq,
      at: e.at,
      actor: e.actor,
      action: e.action,
      subject: subjectOf(e.details),
    }));
  },
  'audit.verify': (core) => {
    core.actor(SUPERVISORS, 'verify the audit log');
    const v = verifyAudit(core.db);
    return {
      ok: v.ok,
      entries: v.entries,
      problems: v.problems.map((p) => ({ seq: p.seq, kind: p.kind, detail: p.message })),
    };
  },
  'users.list': (core) => {
    core.actor(SUPERVISORS, 'list users');
    return listUsers(core.db).map((u) => ({
      username: u.username,
      role: u.role,
      disabled: u.disabled,
      locked: u.locked,
    }));
  },
  'device.list': async (core) => {
    core.actor(TECHNICIANS, 'list devices');
    const d = await discoverDevices();
    return {
      serial: d.serial.map((p) => ({
        path: p.path,
        ...(p.manufacturer ? { manufacturer: p.manufacturer } : {}),
      })),
      hid: d.hid.map((h) => ({ path: h.path, ...(h.product ? { product: h.product } : {}) })),
      ...(d.problems.length ? { listError: d.problems.join('; ') } : {}),
    };
  },
  'device.probe': async (core, a) => {
    core.actor(TECHNICIANS, 'probe devices');
    try {
      const id = await probeSerial(a.path, a.baudRate ? { baudRate: a.baudRate } : {});
      return { ok: true, identity: `${id.model} ${id.firmware}, serial ${id.serialNumber}` };
    } catch (e) {
      return { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  },
  'device.remember': (core, a) => {
    core.actor(TECHNICIANS, 'choose the device');
    saveDeviceChoice(core.dataDir, {
      transport: a.transport,
      path: a.path,
      ...(a.baudRate ? { baudRate: a.baudRate } : {}),
      chosenAt: new Date().toISOString(),
    });
    return { remembered: true };
  },
  'diagnostics.read': async (core) => {
    core.actor(TECHNICIANS, 'read device diagnostics');
    const status = await core.printerStatus();
    const counters = await core.devices.printer.counters();
    return {
      identity: { ...core.deviceIdentity },
      sensors: { ...status.flags, position: status.position },
      counters: { ...counters },
    };
  },
  'testJobs.run': async (core) => {
    core.actor(['technician'], 'run test jobs');
    const run = await core.intake(1);
    return { outcomes: run.outcomes.map((o) => outcomeView(o, core.lang)) };
  },
  // The frames themselves reach the window as terminal.frame events (the core decodes them).
  'terminal.send': async (core, a) => {
    const terminal = terminalOf(core);
    const code = (Command as Record<string, number>)[a.command.toUpperCase()];
    if (code === undefined)
      throw new StationError(`${a.command} is not a command of the station protocol`, 'refused');
    const r = await terminal.send(code, Buffer.from(a.payloadHex ?? '', 'hex'));
    return { status: statusName(r.status), answer: shownPayload(code, r.payload, 'response') };
  },
  'terminal.log': (core, a) => {
    const frames = core.terminalLog();
    const f = a.filter?.toUpperCase();
    return f ? frames.filter((l) => `${l.kind} ${l.name}`.toUpperCase().includes(f)) : frames;
  },
};

function subjectOf(details: unknown): string | null {
  if (details && typeof details === 'object') {
    const d = details as Record<string, unknown>;
    for (const k of ['serial', 'username', 'batchId', 'jobId', 'applicationId'])
      if (typeof d[k] === 'string' || typeof d[k] === 'number') return `${k} ${String(d[k])}`;
  }
  return null;
}

function queueView(q: {
  id: number;
  status: string;
  receivedAt: string;
  documentCode: string;
  issuingState: string;
  takenBy: string | null;
  documentNumber: string | null;
}) {
  return {
    id: q.id,
    status: q.status,
    receivedAt: q.receivedAt,
    documentCode: q.documentCode,
    issuingState: q.issuingState,
    takenBy: q.takenBy,
    documentNumber: q.documentNumber,
  };
}

/** Any failure as the renderer sees it: a code and a message that carries no secret. */
export function toIpcError(e: unknown): IpcError {
  if (e instanceof NotSignedInError) return { code: 'not-signed-in', message: e.message };
  if (e instanceof PermissionError) return { code: 'forbidden', message: e.message };
  if (e instanceof NotAvailableError) return { code: 'not-available', message: e.message };
  if (e instanceof AuthenticationError) return { code: 'refused', message: e.message };
  if (e instanceof IntakeDeviceError || e instanceof DeviceError)
    return { code: 'device', message: e.message };
  if (e instanceof StationError) return { code: 'refused', message: e.message };
  // Anything else is a bug or an environment failure: its text may hold paths or data, so the
  // renderer gets a fixed sentence and the station log the detail.
  return { code: 'internal', message: 'the station failed to do this; see the station log' };
}

/** Whether a role may make a call, by the contract (the core checks again). */
function allowed(name: IpcCallName, role: Role | undefined): IpcError | undefined {
  if (accessAllows(IPC_CALLS[name].access, role)) return undefined;
  if (!role) return { code: 'not-signed-in', message: 'sign in first' };
  return { code: 'forbidden', message: `a ${role} may not do this (${name})` };
}

/**
 * Runs one call from outside: unknown names and malformed arguments are refused before anything
 * runs; `log` receives what the renderer does not (internal errors' detail).
 */
export async function dispatchCall(
  core: StationCore,
  name: unknown,
  rawArgs: unknown,
  log: (line: string) => void = () => undefined,
): Promise<IpcReply<unknown>> {
  if (!isCallName(name))
    return {
      ok: false,
      error: {
        code: 'unknown-call',
        message: `no call named ${JSON.stringify(String(name)).slice(0, 80)}`,
      },
    };
  const parsed = parseArgs(name, rawArgs);
  if (!parsed.ok) return parsed;
  const refused = allowed(name, core.whoami()?.role);
  if (refused) return { ok: false, error: refused };
  try {
    const handler = HANDLERS[name] as Handler<IpcCallName>;
    const value = await handler(core, parsed.value as Args<IpcCallName>);
    if (name !== 'session.signOut' && name !== 'session.signIn' && core.whoami()) core.touch();
    return { ok: true, value };
  } catch (e) {
    const error = toIpcError(e);
    if (error.code === 'internal') log(`${name}: ${e instanceof Error ? e.stack : String(e)}`);
    return { ok: false, error };
  }
}
