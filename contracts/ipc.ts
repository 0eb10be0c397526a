/**
 * The IPC contract between the renderer and the station (docs/desktop.md): one map from call
 * name to its argument schema, result schema and the roles that may make it, and one map of
 * events. The Electron main process and the browser-mode bridge register handlers from it, the
 * preload exposes it, the renderer calls it; nothing else crosses. Adding a call is one line in
 * IPC_CALLS: the compiler then finds every handler that must follow. Roles listed here are what
 * the UI may offer; the station core checks them again (its use cases decide).
 */
import { z } from 'zod';

export const IPC_ROLES = ['operator', 'supervisor', 'technician', 'admin'] as const;
export type IpcRole = (typeof IPC_ROLES)[number];
/** 'public': no sign-in needed; 'signed-in': any role. */
export type CallAccess = 'public' | 'signed-in' | readonly IpcRole[];

export const IPC_ERROR_CODES = [
  'invalid-argument', // the argument does not match the schema (field names the culprit)
  'unknown-call',
  'not-signed-in',
  'forbidden', // the signed-in user's role may not do this
  'refused', // the station refused (a use-case rule, a locked user, a bad PIN, ...)
  'device', // the device did not answer or reported a fault
  'not-available', // not built yet in this station (personalization, sync) or no device
  'internal',
] as const;
export const IpcErrorSchema = z.object({
  code: z.enum(IPC_ERROR_CODES),
  message: z.string(),
  field: z.string().optional(),
});
export type IpcError = z.infer<typeof IpcErrorSchema>;
export type IpcReply<T> = { ok: true; value: T } | { ok: false; error: IpcError };

const none = z.object({}).strict();
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a day as YYYY-MM-DD');
const id = z.number().int().positive();
const OPERATORS = ['operator', 'supervisor'] as const;
const SUPERVISORS = ['supervisor', 'admin'] as const;
const TECHNICIANS = ['technician', 'admin'] as const;
const WORKERS = ['operator', 'supervisor', 'technician'] as const;

const Session = z.object({
  username: z.string(),
  role: z.enum(IPC_ROLES),
  lockAfterMs: z.number(),
});
const Counts = z.record(z.string(), z.number());
const Outcome = z.object({
  jobId: id,
  serial: z.string().nullable(),
  decision: z.enum(['accepted', 'refused']),
  reason: z.string().optional(),
  /** What the operator reads, in the station's language: why, and what to do. */
  message: z.string().optional(),
  instruction: z.string().optional(),
});
const QueueEntry = z.object({
  id,
  status: z.string(),
  receivedAt: z.string(),
  documentCode: z.string(),
  issuingState: z.string(),
  takenBy: z.string().nullable(),
  documentNumber: z.string().nullable(),
});
const DeviceStatus = z.object({
  connected: z.boolean(),
  source: z.string(),
  model: z.string().optional(),
  serialNumber: z.string().optional(),
  flags: z.record(z.string(), z.boolean()),
  position: z.string(),
  /** What the operator must do before work goes on (cover open, jam, ribbon out), or null. */
  pause: z.object({ cause: z.string(), instruction: z.string() }).nullable(),
});
const Sync = z.object({
  state: z.enum(['online', 'offline', 'not-configured']),
  waiting: z.number().int(),
  /** Issuances left of the signed offline allowance (null: no limit, not enrolled). */
  offlineAllowanceLeft: z.number().nullable(),
  offlineHoursLeft: z.number().nullable(),
  /** Why personalization is stopped by the offline policy now (and what to do), or null. */
  issuanceStopped: z.string().nullable(),
  lastSuccessAt: z.string().nullable(),
});
/** A personalization job's end as the window shows it (no personal data). */
const Personalized = z.object({
  outcome: z.enum(['issued', 'test_passed', 'spoiled', 'returned', 'no-application']),
  jobId: id.optional(),
  applicationId: id.nullable().optional(),
  serial: z.string().nullable().optional(),
  /** Booklets intake refused before one was accepted. */
  refusals: z.number().int().optional(),
  documentNumber: z.string().optional(),
  checksPassed: z.number().int().optional(),
  /** Spoiled or returned: the step it stopped at and what the device (or check) said. */
  step: z.string().optional(),
  answer: z.string().optional(),
});
const ReconcileDay = z.object({
  date: day,
  balanced: z.boolean(),
  station: Counts,
  /** Issued, spoiled and refused per hour of the station's day (0..23). */
  hourly: z.array(
    z.object({
      hour: z.number().int(),
      issued: z.number(),
      spoiled: z.number(),
      refused: z.number(),
    }),
  ),
  causes: z.object({ spoiled: Counts, refused: Counts }),
  discrepancies: z.array(z.object({ serial: z.string(), problem: z.string() })),
  /** When and by whom the day was closed (reconcile.close), or null. */
  closed: z.object({ at: z.string(), by: z.string() }).nullable(),
});
/** Frames the core keeps for terminal.log; the window keeps as many. */
export const TERMINAL_FRAMES = 500;
/**
 * A frame of the device conversation as the technicians' terminal shows it (docs/terminal.md):
 * decoded, with payloads that may carry personal data or keys (APDU data, print jobs, the MRZ
 * read back) given only by their shape. `id` orders frames across terminal.log and the events.
 */
const TerminalFrame = z.object({
  id: z.number().int().positive(),
  at: z.string(),
  dir: z.enum(['tx', 'rx', 'bad']),
  kind: z.enum(['command', 'response', 'event', 'ack', 'nak', 'hello', 'corrupt', 'other']),
  /** The link's sequence number (null for bytes that made no frame). */
  seq: z.number().int().nullable(),
  /** The command or event name (empty for ACK, NAK, HELLO and corrupt bytes). */
  name: z.string(),
  /** A response's status (OK, JAM, ...). */
  status: z.string().optional(),
  /** A retransmission of a frame sent before. */
  resent: z.boolean().optional(),
  /** The payload as shown: hex, or only its shape where it may carry personal data or keys. */
  detail: z.string(),
});
const Port = z.object({ path: z.string(), manufacturer: z.string().optional() });
const call = <A extends z.ZodType, R extends z.ZodType>(
  args: A,
  result: R,
  access: CallAccess,
) => ({ args, result, access });

export const IPC_CALLS = {
  'session.signIn': call(
    z.object({ username: z.string().min(1).max(64), pin: z.string().min(1).max(128) }).strict(),
    Session,
    'public',
  ),
  'session.signOut': call(none, z.object({ signedOut: z.boolean() }), 'public'),
  'session.whoami': call(none, Session.nullable(), 'public'),
  /** Any input from the user: pushes the inactivity lock back. */
  'session.touch': call(none, z.object({ lockInMs: z.number() }), 'signed-in'),
  'status.station': call(
    none,
    z.object({
      stationId: z.string(),
      agencyCode: z.string(),
      agencyName: z.string(),
      development: z.boolean(),
      dataDir: z.string(),
    }),
    'signed-in',
  ),
  'status.device': call(none, DeviceStatus, 'signed-in'),
  'status.stock': call(none, z.object({ onHand: z.number().int(), byState: Counts }), 'signed-in'),
  'status.sync': call(none, Sync, 'signed-in'),
  'intake.next': call(
    z.object({ count: z.number().int().min(1).max(100) }).strict(),
    z.object({
      accepted: z.number(),
      refused: z.number(),
      end: z.string(),
      outcomes: z.array(Outcome),
    }),
    WORKERS,
  ),
  'personalize.next': call(
    z.object({ applicationId: id.optional() }).strict(),
    Personalized,
    OPERATORS,
  ),
  /** The data page of the running (or last) job, laid out before it prints; null before any. */
  'personalize.preview': call(none, z.object({ jobId: id, svg: z.string() }).nullable(), OPERATORS),
  /** The language of the station's messages (refusal reasons, device words). */
  'session.setLanguage': call(
    z.object({ lang: z.enum(['es', 'en']) }).strict(),
    z.object({ lang: z.enum(['es', 'en']) }),
    'signed-in',
  ),
  /** After a pause (jam, cover open, ribbon out): the operator cleared it, or gives the job up. */
  'job.resume': call(
    z.object({ giveUp: z.boolean().optional() }).strict(),
    z.object({ resumed: z.boolean() }),
    WORKERS,
  ),
  'queue.list': call(
    z.object({ all: z.boolean().optional() }).strict(),
    z.array(QueueEntry),
    OPERATORS,
  ),
  'queue.take': call(z.object({ id }).strict(), QueueEntry, OPERATORS),
  'refusals.details': call(
    z.object({ jobId: id }).strict(),
    z.object({
      jobId: id,
      serial: z.string().nullable(),
      reason: z.string(),
      message: z.string(),
      instruction: z.string(),
      at: z.string(),
      steps: z.array(z.object({ step: z.string(), at: z.string() })),
    }),
    [...WORKERS, 'admin'],
  ),
  'reconcile.day': call(z.object({ date: day.optional() }).strict(), ReconcileDay, SUPERVISORS),
  /** Closes the day (default today): its reconciliation goes into the audit log, once. */
  'reconcile.close': call(
    z.object({ date: day.optional() }).strict(),
    z.object({ date: day, at: z.string(), by: z.string(), closing: z.number().int() }),
    ['supervisor'],
  ),
  /** Refused intake jobs, newest first, with the reason in the station's language. */
  'refusals.list': call(
    z.object({ limit: z.number().int().min(1).max(500).optional() }).strict(),
    z.array(
      z.object({
        jobId: id,
        serial: z.string().nullable(),
        reason: z.string(),
        message: z.string(),
        at: z.string(),
      }),
    ),
    SUPERVISORS,
  ),
  /** What recovery decided for the jobs of processes that died, newest first. */
  'recovery.list': call(
    z.object({ limit: z.number().int().min(1).max(500).optional() }).strict(),
    z.array(
      z.object({
        jobId: id,
        at: z.string(),
        serial: z.string().nullable(),
        applicationId: z.number().int().nullable(),
        status: z.string(),
        decision: z.string(),
      }),
    ),
    SUPERVISORS,
  ),
  'stock.importManifest': call(
    z.object({ text: z.string().min(1).max(4_000_000) }).strict(),
    z.object({ batchId: z.string(), received: z.number().int() }),
    ['supervisor'],
  ),
  'stock.allocate': call(
    z
      .object({ batchId: z.string().min(1).max(64), serials: z.string().min(1).max(10_000) })
      .strict(),
    z.object({ allocated: z.number().int() }),
    ['supervisor'],
  ),
  'stock.count': call(none, z.object({ byState: Counts, onHand: z.number().int() }), SUPERVISORS),
  'stock.daysLeft': call(
    z.object({ days: z.number().int().min(1).max(90).optional() }).strict(),
    z.object({
      onHand: z.number().int(),
      perDay: z.number(),
      daysLeft: z.number().nullable(),
      low: z.boolean(),
    }),
    SUPERVISORS,
  ),
  'audit.list': call(
    z
      .object({
        limit: z.number().int().min(1).max(500).optional(),
        afterSeq: z.number().int().min(0).optional(),
      })
      .strict(),
    z.array(
      z.object({
        seq: z.number().int(),
        at: z.string(),
        actor: z.string().nullable(),
        action: z.string(),
        subject: z.string().nullable(),
      }),
    ),
    SUPERVISORS,
  ),
  'audit.verify': call(
    none,
    z.object({
      ok: z.boolean(),
      entries: z.number().int(),
      problems: z.array(
        z.object({ seq: z.number().int().nullable(), kind: z.string(), detail: z.string() }),
      ),
    }),
    SUPERVISORS,
  ),
  'users.list': call(
    none,
    z.array(
      z.object({
        username: z.string(),
        role: z.enum(IPC_ROLES),
        disabled: z.boolean(),
        locked: z.boolean(),
      }),
    ),
    SUPERVISORS,
  ),
  'device.list': call(
    none,
    z.object({
      serial: z.array(Port),
      hid: z.array(z.object({ path: z.string(), product: z.string().optional() })),
      listError: z.string().optional(),
    }),
    TECHNICIANS,
  ),
  'device.probe': call(
    z
      .object({
        path: z.string().min(1).max(4096),
        baudRate: z.number().int().min(1200).max(4_000_000).optional(),
      })
      .strict(),
    z.object({ ok: z.boolean(), identity: z.string().optional(), error: z.string().optional() }),
    TECHNICIANS,
  ),
  'device.remember': call(
    z
      .object({
        transport: z.enum(['serial', 'hid']),
        path: z.string().min(1).max(4096),
        baudRate: z.number().int().min(1200).max(4_000_000).optional(),
      })
      .strict(),
    z.object({ remembered: z.boolean() }),
    TECHNICIANS,
  ),
  'diagnostics.read': call(
    none,
    z.object({
      identity: z.record(z.string(), z.union([z.string(), z.number()])),
      sensors: z.record(z.string(), z.unknown()),
      counters: z.record(z.string(), z.unknown()),
    }),
    TECHNICIANS,
  ),
  'testJobs.run': call(
    z.object({ kind: z.enum(['intake']) }).strict(),
    z.object({ outcomes: z.array(Outcome) }),
    ['technician'],
  ),
  /** A raw command, under the CLI terminal's gate; the answer as the terminal shows it. */
  'terminal.send': call(
    z
      .object({
        command: z.string().min(1).max(64),
        payloadHex: z
          .string()
          .regex(/^([0-9a-fA-F]{2})*$/)
          .max(8192)
          .optional(),
      })
      .strict(),
    z.object({ status: z.string(), answer: z.string() }),
    TECHNICIANS,
  ),
  /** The frames of this session so far (the newest TERMINAL_FRAMES); terminal.frame goes on. */
  'terminal.log': call(
    z.object({ filter: z.string().max(64).optional() }).strict(),
    z.array(TerminalFrame),
    TECHNICIANS,
  ),
} as const;

const event = <P extends z.ZodType>(payload: P, access: CallAccess) => ({ payload, access });

/**
 * Events: name → payload schema and the roles that may receive it. The station core delivers
 * an event only while the signed-in user's role allows it (`public`: also when no one is), so
 * every transport (the window's IPC, the browser bridge) sends a page only what its user may see.
 */
export const IPC_EVENTS = {
  'device.event': event(
    z.object({ name: z.string(), text: z.string(), pause: z.boolean() }),
    'signed-in',
  ),
  /** Personalization's steps: feed, checks, encode, verify, print, mrz (progress 0..1 each). */
  'job.step': event(
    z.object({
      jobId: id,
      kind: z.enum(['intake', 'personalize']),
      step: z.string(),
      progress: z.number().min(0).max(1),
    }),
    'signed-in',
  ),
  'job.outcome': event(Outcome, 'signed-in'),
  /** Signed in, or null when signed out or locked: the sign-in screen needs it too. */
  'session.changed': event(Session.nullable(), 'public'),
  /** A job waits for the operator (what stopped it and what to do); null once it goes on. */
  'job.paused': event(
    z
      .object({ jobId: id, step: z.string(), status: z.string(), instruction: z.string() })
      .nullable(),
    'signed-in',
  ),
  'sync.state': event(Sync, 'signed-in'),
  /** A personalization job ended (personalize.next's result, for every window). */
  'job.personalized': event(Personalized, OPERATORS),
  /** The data page of the running job, laid out before it prints (personal data). */
  'job.preview': event(z.object({ jobId: id, svg: z.string() }), OPERATORS),
  /** Each frame of the device conversation, both ways, decoded (the technicians' terminal). */
  'terminal.frame': event(TerminalFrame, TECHNICIANS),
} as const;

export type IpcCallName = keyof typeof IPC_CALLS;
export type IpcEventName = keyof typeof IPC_EVENTS;
export type IpcArgs<N extends IpcCallName> = z.input<(typeof IPC_CALLS)[N]['args']>;
export type IpcResult<N extends IpcCallName> = z.infer<(typeof IPC_CALLS)[N]['result']>;
export type IpcEvent<E extends IpcEventName> = z.infer<(typeof IPC_EVENTS)[E]['payload']>;
/** What the preload exposes (window.station) and the browser-mode bridge client implements. */
export interface StationApi {
  invoke<N extends IpcCallName>(name: N, args: IpcArgs<N>): Promise<IpcReply<IpcResult<N>>>;
  /** Returns what unsubscribes. */
  subscribe<E extends IpcEventName>(event: E, fn: (payload: IpcEvent<E>) => void): () => void;
}
/** Electron: one channel per call (`station:<call name>`), registered from IPC_CALLS; events on one. */
export const ipcChannel = (name: IpcCallName): string => `station:${name}`;
export const IPC_EVENT_CHANNEL = 'station:event';

/** Validates a call's argument: the parsed value, or an invalid-argument error naming the field. */
export function parseArgs<N extends IpcCallName>(
  name: N,
  raw: unknown,
): { ok: true; value: z.infer<(typeof IPC_CALLS)[N]['args']> } | { ok: false; error: IpcError } {
  const r = IPC_CALLS[name].args.safeParse(raw ?? {});
  if (r.success) return { ok: true, value: r.data as z.infer<(typeof IPC_CALLS)[N]['args']> };
  const issue = r.error.issues[0];
  const field =
    issue?.path.join('.') || (issue?.code === 'unrecognized_keys' ? issue.keys.join(',') : '');
  return {
    ok: false,
    error: {
      code: 'invalid-argument',
      message: `${name}: ${field ? `${field}: ` : ''}${issue?.message ?? 'invalid argument'}`,
      ...(field ? { field } : {}),
    },
  };
}

export const isCallName = (s: unknown): s is IpcCallName =>
  typeof s === 'string' && Object.hasOwn(IPC_CALLS, s);

/** Whether a user of `role` (undefined: no one signed in) may make a call or receive an event. */
export function accessAllows(access: CallAccess, role: IpcRole | undefined): boolean {
  if (access === 'public') return true;
  if (role === undefined) return false;
  return access === 'signed-in' || access.includes(role);
}

/**
 * Browser mode (development and tests only, never in a packaged build): the same calls over a
 * loopback WebSocket, ws://127.0.0.1:<port>/?token=<per-run token>. The page learns port and
 * token from its URL fragment (#port=<n>&token=<t>). A request is `{ id, name, args }`; its
 * reply `{ id, reply }` with reply an IpcReply; an event `{ event, payload }`. A message that is
 * not a valid request gets `{ id: null, reply: { ok: false, error } }` and runs nothing.
 */
export const BridgeRequestSchema = z
  .object({
    id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    name: z.string().max(64),
    args: z.unknown(),
  })
  .strict();
export type BridgeRequest = z.infer<typeof BridgeRequestSchema>;
export type BridgeReply = { id: number | null; reply: IpcReply<unknown> };
export type BridgeEvent = { event: IpcEventName; payload: unknown };
