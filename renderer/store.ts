/**
 * What the renderer knows about the station, in one zustand store: filled from calls and kept
 * live by the contract's events. It holds only what the station said; nothing is invented.
 */
import { create } from 'zustand';
import type { IpcEvent, IpcResult } from '../contracts/ipc.ts';

export type Session = NonNullable<IpcResult<'session.whoami'>>;
export type DeviceStatus = IpcResult<'status.device'>;
export type SyncStatus = IpcResult<'status.sync'>;
export type StationInfo = IpcResult<'status.station'>;
export type StockStatus = IpcResult<'status.stock'>;
export type Outcome = IpcEvent<'job.outcome'>;
export type Personalized = IpcEvent<'job.personalized'>;
export type JobPause = NonNullable<IpcEvent<'job.paused'>>;

/** The steps of a job in the order the station runs them. */
export const JOB_STEPS = {
  intake: ['feed', 'checks'],
  personalize: ['feed', 'checks', 'encode', 'verify', 'print', 'mrz'],
} as const;
export type JobKind = keyof typeof JOB_STEPS;

export interface StepState {
  step: string;
  /** 0..1 as reported by the station. */
  progress: number;
}

export interface CurrentJob {
  jobId: number;
  kind: JobKind;
  steps: StepState[];
}

export interface DeviceNote {
  at: number;
  name: string;
  text: string;
  pause: boolean;
}

export interface StationState {
  session: Session | null;
  station: StationInfo | null;
  device: DeviceStatus | null;
  sync: SyncStatus | null;
  stock: StockStatus | null;
  job: CurrentJob | null;
  /** The last decided booklet; a refusal stays on screen until the operator dismisses it. */
  outcome: Outcome | null;
  deviceNotes: DeviceNote[];
  /** The last personalization job's end (issued, spoiled, returned, no application). */
  personalized: Personalized | null;
  /** The data page of the running (or last) job, before it prints. */
  preview: { jobId: number; svg: string } | null;
  /** A job waiting for the operator (jam, cover open, ribbon out): resume once cleared. */
  jobPause: JobPause | null;
  /** Set when the link to the station is lost. */
  disconnected: string | null;
  /** Set when the inactivity lock is up (the session is kept; the PIN unlocks). */
  locked: boolean;
  /** Who signs in again to unlock. */
  lockedUser: string | null;
  set: (patch: Partial<Omit<StationState, 'set' | 'applyStep' | 'noteDevice'>>) => void;
  applyStep: (e: IpcEvent<'job.step'>) => void;
  noteDevice: (e: IpcEvent<'device.event'>) => void;
}

const MAX_NOTES = 50;

export const useStation = create<StationState>((set) => ({
  session: null,
  station: null,
  device: null,
  sync: null,
  stock: null,
  job: null,
  outcome: null,
  deviceNotes: [],
  personalized: null,
  preview: null,
  jobPause: null,
  disconnected: null,
  locked: false,
  lockedUser: null,
  set: (patch) => set(patch),
  applyStep: (e) =>
    set((s) => {
      const job: CurrentJob =
        s.job && s.job.jobId === e.jobId ? s.job : { jobId: e.jobId, kind: e.kind, steps: [] };
      const steps = job.steps.filter((x) => x.step !== e.step);
      steps.push({ step: e.step, progress: e.progress });
      return { job: { ...job, steps }, outcome: s.job?.jobId === e.jobId ? s.outcome : null };
    }),
  noteDevice: (e) =>
    set((s) => ({
      deviceNotes: [{ at: Date.now(), ...e }, ...s.deviceNotes].slice(0, MAX_NOTES),
    })),
}));
