/**
 * The sync loop (docs/sync-station.md): in the station process, by itself. Each cycle pushes
 * until nothing waits, pulls until nothing more comes, then applies retention; a failed cycle
 * is retried after an exponential back-off with full jitter (random between 0 and the
 * current ceiling, which doubles from baseDelayMs up to maxDelayMs). Everything it needs to
 * resume (acknowledged seqs, pull cursor, last success) is in the database, so a restart or a
 * crash in the middle of a batch resumes from the last acknowledgement: the central office
 * answers what it already stored as duplicates.
 */
import { EventEmitter } from 'node:events';
import type { Db } from '../../db/open.ts';
import { getStationIdentity } from '../identity.ts';
import type { ApplicationDataKey } from '../keys/data-key.ts';
import {
  explainRemoteError,
  SyncClient,
  SyncNetworkError,
  SyncRemoteError,
  type FetchLike,
} from './client.ts';
import { pullOnce } from './pull.ts';
import { pushOnce, somethingToPush } from './push.ts';
import { applyRetention } from './retention.ts';
import { readSyncConfig, readSyncState, updateSyncState, waitingRecords } from './state.ts';
import type { SyncKey } from './sync-key.ts';

export type SyncConnection =
  'not_enrolled' | 'starting' | 'online' | 'offline' | 'refused' | 'stopped';

export interface SyncStatus {
  enrolled: boolean;
  centralUrl: string | null;
  connection: SyncConnection;
  lastSuccessAt: string | null;
  lastAttemptAt: string | null;
  lastError: string | null;
  /** Outbox records the central office has not acknowledged, and the oldest one's time. */
  waiting: number;
  oldestWaitingAt: string | null;
  /** Audit entries not acknowledged. */
  auditWaiting: number;
  /** When the next attempt is due (after a failure). */
  nextAttemptAt: string | null;
}

/** The status as the database says it (for `station sync status` beside a running station). */
export function readSyncStatus(db: Db, connection?: SyncConnection): SyncStatus {
  const c = readSyncConfig(db);
  const s = readSyncState(db);
  const w = waitingRecords(db);
  const auditWaiting = db
    .prepare('SELECT count(*) FROM audit_log WHERE seq > ?')
    .pluck()
    .get(s.ackedAuditSeq) as number;
  return {
    enrolled: Boolean(c),
    centralUrl: c?.centralUrl ?? null,
    connection:
      connection ??
      (!c ? 'not_enrolled' : s.lastError === null && s.lastSuccessAt ? 'online' : 'offline'),
    lastSuccessAt: s.lastSuccessAt,
    lastAttemptAt: s.lastAttemptAt,
    lastError: s.lastError,
    waiting: w.count,
    oldestWaitingAt: w.oldest,
    auditWaiting,
    nextAttemptAt: null,
  };
}

export interface SyncServiceOptions {
  db: Db;
  key: SyncKey;
  dataKey?: ApplicationDataKey;
  fetch?: FetchLike;
  now?: () => Date;
  /** Waits `ms` or until the signal aborts (tests inject a fake clock's). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Pause between cycles when everything went through. Default 30 s. */
  intervalMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  batchSize?: number;
  timeoutMs?: number;
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Emits 'connection' (SyncStatus) when the connection state changes, and 'status' at the end
 * of every cycle (for the UI's counters). */
export class SyncService extends EventEmitter<{
  status: [SyncStatus];
  connection: [SyncStatus];
}> {
  private running = false;
  private stopper = new AbortController();
  private wake = new AbortController();
  private loop: Promise<void> | undefined;
  private connection: SyncConnection = 'starting';
  private failures = 0;
  private nextAttemptAt: string | null = null;
  private readonly now: () => Date;

  constructor(private readonly o: SyncServiceOptions) {
    super();
    this.now = o.now ?? (() => new Date());
  }

  status(): SyncStatus {
    return { ...readSyncStatus(this.o.db, this.connection), nextAttemptAt: this.nextAttemptAt };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopper = new AbortController();
    this.loop = this.run();
  }

  /** Ends the loop after the current request (which is abandoned if it hangs past its timeout). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopper.abort();
    this.wake.abort();
    await this.loop;
    this.setConnection('stopped');
  }

  /** Starts the next cycle now (e.g. right after an issuance). */
  poke(): void {
    this.wake.abort();
  }

  private setConnection(c: SyncConnection): void {
    const changed = c !== this.connection;
    this.connection = c;
    if (changed) this.emit('connection', this.status());
  }

  private client(): SyncClient | undefined {
    const c = readSyncConfig(this.o.db);
    if (!c) return undefined;
    return new SyncClient({
      baseUrl: c.centralUrl,
      stationId: getStationIdentity(this.o.db).stationId,
      key: this.o.key,
      now: this.now,
      ...(this.o.fetch ? { fetch: this.o.fetch } : {}),
      ...(this.o.timeoutMs ? { timeoutMs: this.o.timeoutMs } : {}),
    });
  }

  /** One cycle: push everything waiting, pull everything new, apply retention. */
  async runOnce(): Promise<void> {
    const { db } = this.o;
    const client = this.client();
    if (!client) {
      this.setConnection('not_enrolled');
      return;
    }
    updateSyncState(db, { lastAttemptAt: this.now().toISOString() });
    try {
      // Until nothing waits; a batch that moves no acknowledgement forward ends the cycle as a
      // failure rather than sending it again at once.
      for (;;) {
        const before = readSyncState(db);
        await pushOnce(db, client, this.now(), { records: this.o.batchSize });
        if (!somethingToPush(db) || this.stopper.signal.aborted) break;
        const after = readSyncState(db);
        if (
          after.ackedOutboxSeq <= before.ackedOutboxSeq &&
          after.ackedAuditSeq <= before.ackedAuditSeq
        )
          throw new Error('the central office acknowledged nothing of the last batch');
      }
      for (let i = 0; i < 100; i++) {
        const r = await pullOnce({ db, dataKey: this.o.dataKey, at: this.now() }, client);
        if (!r.more) break;
      }
      updateSyncState(db, { lastSuccessAt: this.now().toISOString(), lastError: null });
      applyRetention(db, this.now());
      this.failures = 0;
      this.nextAttemptAt = null;
      this.setConnection('online');
    } catch (e) {
      const message =
        e instanceof SyncRemoteError
          ? explainRemoteError(e)
          : e instanceof SyncNetworkError
            ? e.message
            : `sync failed: ${(e as Error).message}`;
      updateSyncState(db, { lastError: message });
      this.setConnection(e instanceof SyncRemoteError && e.refused ? 'refused' : 'offline');
      throw e;
    } finally {
      this.emit('status', this.status());
    }
  }

  /** The back-off before the next attempt after `failures` failures in a row. */
  delayAfter(failures: number): number {
    const base = this.o.baseDelayMs ?? 1000;
    const ceiling = Math.min(this.o.maxDelayMs ?? 300_000, base * 2 ** Math.min(failures - 1, 30));
    return Math.round((this.o.random ?? Math.random)() * ceiling);
  }

  private async run(): Promise<void> {
    const sleep = this.o.sleep ?? defaultSleep;
    while (this.running) {
      let wait = this.o.intervalMs ?? 30_000;
      // Made before the cycle: a poke while it runs (a record queued after its push) ends the
      // pause after it at once, rather than being lost.
      this.wake = new AbortController();
      try {
        await this.runOnce();
      } catch {
        this.failures++;
        wait = this.delayAfter(this.failures);
      }
      if (!this.running) break;
      this.nextAttemptAt = wait > 0 ? new Date(this.now().getTime() + wait).toISOString() : null;
      const both = AbortSignal.any([this.stopper.signal, this.wake.signal]);
      await sleep(wait, both);
    }
  }
}
