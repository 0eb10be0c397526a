/** Stock: trusted manifest keys, manifest import, allocation and the serial-gap report. */
import { createPublicKey } from 'node:crypto';
import type { Db } from '../db/open.ts';
import { checkAgencyCode, isProfileAccepted } from './agencies.ts';
import { writeAudit } from './audit.ts';
import { InvalidInputError, StationError } from './errors.ts';
import { getStationIdentity } from './identity.ts';
import { receiveBooklets, transitionMany, type TransitionResult } from './lifecycle.ts';
import {
  algorithmOf,
  keyIdOf,
  MalformedManifestError,
  manifestDigest,
  parseManifest,
  verifyManifestSignature,
  type SignatureAlgorithm,
} from './manifest.ts';
import { enqueueOutbox } from './outbox.ts';
import { requireRole, type Actor } from './users.ts';

export interface TrustedKey {
  keyId: string;
  label: string;
  algorithm: SignatureAlgorithm;
  publicKeyPem: string;
  /** The agency whose manifests this key may sign. */
  agency: string;
  /** The manufacturer whose manifests it may sign; null: any manufacturer of that agency. */
  manufacturer: string | null;
  addedAt: string;
  revokedAt: string | null;
}

/** What a trusted key may sign: manifests of one agency, optionally of one manufacturer. The
 * agency defaults to the station's own. */
export interface KeyBinding {
  agency?: string;
  manufacturer?: string;
}

/** An admin adds a public key (PEM) whose manifests this station accepts, bound to the agency
 * (and optionally the manufacturer) whose manifests it may sign. */
export function trustKey(
  db: Db,
  by: Actor,
  publicKeyPem: string,
  label: string,
  binding: KeyBinding = {},
): TrustedKey {
  requireRole(by, ['admin'], 'trust manifest keys');
  const agency = binding.agency ?? getStationIdentity(db).agencyCode;
  checkAgencyCode(agency);
  const manufacturer = binding.manufacturer?.trim() ?? null;
  if (manufacturer !== null && (manufacturer.length < 1 || manufacturer.length > 200))
    throw new InvalidInputError('the manufacturer a key is bound to must be 1-200 characters');
  let key;
  try {
    key = createPublicKey(publicKeyPem);
  } catch (e) {
    throw new InvalidInputError(`not a public key in PEM form: ${(e as Error).message}`);
  }
  if (key.type !== 'public') throw new InvalidInputError('give the public key, not a private one');
  let algorithm: SignatureAlgorithm;
  try {
    algorithm = algorithmOf(key);
  } catch (e) {
    throw new InvalidInputError((e as Error).message);
  }
  if (!label.trim()) throw new InvalidInputError('the key needs a label (who signs with it)');
  const keyId = keyIdOf(key);
  const pem = key.export({ type: 'spki', format: 'pem' }).toString();
  const addedAt = new Date().toISOString();
  db.transaction(() => {
    const existing = db
      .prepare('SELECT revoked_at FROM trusted_keys WHERE key_id = ?')
      .get(keyId) as { revoked_at: string | null } | undefined;
    if (existing)
      throw new InvalidInputError(
        existing.revoked_at
          ? `key ${keyId} was revoked on ${existing.revoked_at} and cannot be trusted again`
          : `key ${keyId} is trusted already`,
      );
    db.prepare(
      `INSERT INTO trusted_keys (key_id, label, algorithm, public_key_pem, agency_code,
         manufacturer, added_at, added_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(keyId, label.trim(), algorithm, pem, agency, manufacturer, addedAt, by.id);
    writeAudit(db, {
      actor: by,
      action: 'manifest_key.trusted',
      details: { keyId, label: label.trim(), algorithm, agency, manufacturer },
    });
  })();
  return {
    keyId,
    label: label.trim(),
    algorithm,
    publicKeyPem: pem,
    agency,
    manufacturer,
    addedAt,
    revokedAt: null,
  };
}

/** An admin stops trusting a key (for good). */
export function revokeKey(db: Db, by: Actor, keyId: string): void {
  requireRole(by, ['admin'], 'revoke manifest keys');
  db.transaction(() => {
    const r = db
      .prepare('UPDATE trusted_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL')
      .run(new Date().toISOString(), keyId);
    if (r.changes !== 1) throw new InvalidInputError(`no trusted key ${keyId}`);
    writeAudit(db, { actor: by, action: 'manifest_key.revoked', details: { keyId } });
  })();
}

export function listTrustedKeys(db: Db): TrustedKey[] {
  return db
    .prepare(
      `SELECT key_id AS keyId, label, algorithm, public_key_pem AS publicKeyPem,
              agency_code AS agency, manufacturer, added_at AS addedAt, revoked_at AS revokedAt
         FROM trusted_keys ORDER BY added_at`,
    )
    .all() as TrustedKey[];
}

export type ManifestRefusalReason =
  | 'malformed'
  | 'untrusted_key'
  | 'bad_signature'
  | 'key_not_authorized'
  | 'wrong_agency'
  | 'profile_not_accepted'
  | 'batch_known'
  | 'duplicate_in_manifest'
  | 'serial_known';

/** A manifest the station refuses to import; none of its booklets was written (the CLI audits
 * the refusal as `stock.import_refused`). */
export class ManifestRefusedError extends StationError {
  constructor(
    readonly reason: ManifestRefusalReason,
    message: string,
  ) {
    super(`manifest refused (${reason}): ${message}`, `manifest_${reason}`);
    this.name = 'ManifestRefusedError';
  }
}

export interface ImportResult {
  batchId: string;
  agency: string;
  chipProfile: string;
  stockClass: 'production' | 'test';
  booklets: number;
  manifestSha256: string;
  signerKeyId: string;
}

function listSome(items: string[]): string {
  return items.length <= 5
    ? items.join(', ')
    : `${items.slice(0, 5).join(', ')} and ${items.length - 5} more`;
}

/**
 * Verifies a manifest file and enters all its booklets as received stock, or refuses it
 * whole with the reason. On success the batch, the booklets with their events, an audit entry
 * and an outbox record land in one transaction.
 */
export function importManifest(db: Db, by: Actor, text: string, at = new Date()): ImportResult {
  requireRole(by, ['supervisor'], 'import stock manifests');
  const { agencyCode } = getStationIdentity(db);
  let m;
  try {
    m = parseManifest(text);
  } catch (e) {
    if (e instanceof MalformedManifestError) throw new ManifestRefusedError('malformed', e.message);
    throw e;
  }
  const key = db
    .prepare(
      `SELECT public_key_pem, revoked_at, label, agency_code, manufacturer
         FROM trusted_keys WHERE key_id = ?`,
    )
    .get(m.signature.keyId) as
    | {
        public_key_pem: string;
        revoked_at: string | null;
        label: string;
        agency_code: string;
        manufacturer: string | null;
      }
    | undefined;
  if (!key)
    throw new ManifestRefusedError(
      'untrusted_key',
      `it is signed by key ${m.signature.keyId}, which this station does not trust`,
    );
  if (key.revoked_at)
    throw new ManifestRefusedError(
      'untrusted_key',
      `it is signed by key ${m.signature.keyId} (${key.label}), revoked on ${key.revoked_at}`,
    );
  if (!verifyManifestSignature(m, createPublicKey(key.public_key_pem)))
    throw new ManifestRefusedError(
      'bad_signature',
      `the signature does not verify with trusted key ${m.signature.keyId} (${key.label}): the file was altered or signed by someone else`,
    );
  const b = m.body;
  if (
    b.agency !== key.agency_code ||
    (key.manufacturer !== null && b.manufacturer !== key.manufacturer)
  )
    throw new ManifestRefusedError(
      'key_not_authorized',
      `key ${m.signature.keyId} (${key.label}) may sign manifests of agency ${key.agency_code}${
        key.manufacturer === null ? '' : ` from ${key.manufacturer}`
      } only; batch ${b.batchId} is for agency ${b.agency} from ${b.manufacturer}`,
    );
  if (b.agency !== agencyCode)
    throw new ManifestRefusedError(
      'wrong_agency',
      `batch ${b.batchId} is coded for agency ${b.agency}; this station belongs to ${agencyCode}`,
    );
  const digest = manifestDigest(text);
  // Checks and writes in one immediate transaction: a concurrent import cannot slip between.
  db.transaction(() => {
    if (!isProfileAccepted(db, agencyCode, b.chipProfile))
      throw new ManifestRefusedError(
        'profile_not_accepted',
        `agency ${agencyCode} does not accept chip profile ${b.chipProfile}`,
      );
    if (db.prepare('SELECT 1 FROM batches WHERE batch_id = ?').get(b.batchId))
      throw new ManifestRefusedError('batch_known', `batch ${b.batchId} was imported already`);
    const seenSerial = new Set<string>();
    const seenChip = new Set<string>();
    const dupes: string[] = [];
    for (const bk of b.booklets) {
      if (seenSerial.has(bk.serial)) dupes.push(`serial ${bk.serial}`);
      if (seenChip.has(bk.chipSerial)) dupes.push(`chip serial ${bk.chipSerial}`);
      seenSerial.add(bk.serial);
      seenChip.add(bk.chipSerial);
    }
    if (dupes.length)
      throw new ManifestRefusedError(
        'duplicate_in_manifest',
        `the manifest lists ${listSome(dupes)} more than once`,
      );
    const bySerial = db.prepare('SELECT batch_id FROM booklets WHERE serial = ?').pluck();
    const byChip = db.prepare('SELECT batch_id FROM booklets WHERE chip_serial = ?').pluck();
    const known: string[] = [];
    for (const bk of b.booklets) {
      const s = bySerial.get(bk.serial) as string | undefined;
      if (s) known.push(`serial ${bk.serial} (batch ${s})`);
      const c = byChip.get(bk.chipSerial) as string | undefined;
      if (c) known.push(`chip serial ${bk.chipSerial} (batch ${c})`);
    }
    if (known.length)
      throw new ManifestRefusedError('serial_known', `already known: ${listSome(known)}`);
    db.prepare(
      `INSERT INTO batches (batch_id, agency_code, profile_id, stock_class, manufacturer, manifest_sha256,
         signer_key_id, booklet_count, imported_at, imported_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      b.batchId,
      b.agency,
      b.chipProfile,
      b.stockClass,
      b.manufacturer,
      digest,
      m.signature.keyId,
      b.booklets.length,
      at.toISOString(),
      by.id,
    );
    receiveBooklets(db, {
      batchId: b.batchId,
      stockClass: b.stockClass,
      booklets: b.booklets,
      actor: by,
      reason: `manifest ${digest.slice(0, 16)} from ${b.manufacturer}`,
      at,
    });
    const summary = {
      batchId: b.batchId,
      agency: b.agency,
      chipProfile: b.chipProfile,
      stockClass: b.stockClass,
      booklets: b.booklets.length,
      manifestSha256: digest,
      signerKeyId: m.signature.keyId,
    };
    writeAudit(db, { actor: by, action: 'stock.imported', details: summary, at });
    enqueueOutbox(
      db,
      'stock.received',
      { ...summary, stationId: getStationIdentity(db).stationId, at: at.toISOString() },
      { idempotencyKey: `stock.received:${b.batchId}`, at },
    );
  }).immediate();
  return {
    batchId: b.batchId,
    agency: b.agency,
    chipProfile: b.chipProfile,
    stockClass: b.stockClass,
    booklets: b.booklets.length,
    manifestSha256: digest,
    signerKeyId: m.signature.keyId,
  };
}

/** Splits a serial into its letters-and-digits prefix and trailing number. */
export function splitSerial(serial: string): { prefix: string; digits: string } {
  const m = /^(.*?)(\d+)$/.exec(serial);
  if (!m) return { prefix: serial, digits: '' };
  return { prefix: m[1]!, digits: m[2]! };
}

export const MAX_SERIALS_PER_SPEC = 100_000;

/**
 * Expands "PE0001000-PE0001099,PE0001200" into serials. A range keeps the prefix and the digit
 * width of its ends. Duplicates are refused.
 */
export function parseSerialSpec(spec: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const push = (s: string): void => {
    if (seen.has(s)) throw new InvalidInputError(`serial ${s} is listed more than once`);
    seen.add(s);
    out.push(s);
    if (out.length > MAX_SERIALS_PER_SPEC)
      throw new InvalidInputError(`more than ${MAX_SERIALS_PER_SPEC} serials in one request`);
  };
  const parts = spec.split(/[\s,]+/).filter(Boolean);
  if (!parts.length) throw new InvalidInputError('no serials given');
  for (const part of parts) {
    const range = /^([A-Z0-9]+)-([A-Z0-9]+)$/.exec(part);
    if (!range) {
      if (!/^[A-Z0-9]{4,20}$/.test(part))
        throw new InvalidInputError(
          `${JSON.stringify(part)} is not a serial or a range of serials`,
        );
      push(part);
      continue;
    }
    const a = splitSerial(range[1]!);
    const b = splitSerial(range[2]!);
    if (!a.digits || a.prefix !== b.prefix || a.digits.length !== b.digits.length)
      throw new InvalidInputError(
        `range ${part}: both ends need the same prefix and number of digits`,
      );
    const from = Number(a.digits);
    const to = Number(b.digits);
    if (to < from) throw new InvalidInputError(`range ${part} runs backwards`);
    if (to - from + 1 > MAX_SERIALS_PER_SPEC)
      throw new InvalidInputError(`range ${part} is longer than ${MAX_SERIALS_PER_SPEC}`);
    for (let n = from; n <= to; n++) push(a.prefix + String(n).padStart(a.digits.length, '0'));
  }
  return out;
}

/**
 * A supervisor allocates received booklets of a batch to a station (this one by default),
 * all or nothing, with an audit entry and an outbox record in the same transaction.
 */
export function allocateStock(
  db: Db,
  by: Actor,
  args: {
    batchId: string;
    serials: readonly string[];
    toStation?: string;
    reason?: string;
    at?: Date;
  },
): TransitionResult[] {
  requireRole(by, ['supervisor'], 'allocate stock');
  if (args.serials.length === 0) throw new InvalidInputError('no serials to allocate');
  const { stationId } = getStationIdentity(db);
  const toStation = args.toStation ?? stationId;
  if (!/^[A-Z0-9][A-Z0-9-]{1,39}$/.test(toStation))
    throw new InvalidInputError(`station id ${JSON.stringify(toStation)} is not valid`);
  if (!db.prepare('SELECT 1 FROM batches WHERE batch_id = ?').get(args.batchId))
    throw new InvalidInputError(`no batch ${args.batchId}`);
  const batchOf = db.prepare('SELECT batch_id FROM booklets WHERE serial = ?').pluck();
  for (const s of args.serials) {
    const batch = batchOf.get(s) as string | undefined;
    if (batch === undefined) throw new InvalidInputError(`no booklet with serial ${s}`);
    if (batch !== args.batchId)
      throw new InvalidInputError(`booklet ${s} belongs to batch ${batch}, not ${args.batchId}`);
  }
  const at = args.at ?? new Date();
  return db.transaction(() => {
    const results = transitionMany(db, args.serials, {
      to: 'allocated',
      actor: by,
      reason: args.reason ?? `allocated to ${toStation}`,
      toStation,
      at,
    });
    const details = {
      batchId: args.batchId,
      toStation,
      count: results.length,
      first: results[0]?.serial,
      last: results.at(-1)?.serial,
    };
    writeAudit(db, { actor: by, action: 'stock.allocated', details, at });
    enqueueOutbox(
      db,
      'stock.allocated',
      { ...details, serials: results.map((r) => r.serial), at: at.toISOString() },
      { at },
    );
    return results;
  })();
}

export interface SerialGap {
  from: string;
  to: string;
  count: number;
}

export interface BatchGapReport {
  batchId: string;
  booklets: number;
  /** One run per prefix and digit width found in the batch. */
  runs: {
    prefix: string;
    first: string;
    last: string;
    present: number;
    missing: number;
    gaps: SerialGap[];
  }[];
  /** Serials with no trailing number (cannot have gaps). */
  unnumbered: number;
}

/** For each batch, the holes in its serial numbering. */
export function serialGaps(db: Db, batchId?: string): BatchGapReport[] {
  const batches = (
    batchId
      ? db.prepare('SELECT batch_id FROM batches WHERE batch_id = ?').pluck().all(batchId)
      : db.prepare('SELECT batch_id FROM batches ORDER BY batch_id').pluck().all()
  ) as string[];
  if (batchId && !batches.length) throw new InvalidInputError(`no batch ${batchId}`);
  const serialsOf = db
    .prepare('SELECT serial FROM booklets WHERE batch_id = ? ORDER BY serial')
    .pluck();
  return batches.map((id) => {
    const groups = new Map<string, { prefix: string; width: number; nums: number[] }>();
    let unnumbered = 0;
    let total = 0;
    for (const s of serialsOf.iterate(id) as Iterable<string>) {
      total++;
      const { prefix, digits } = splitSerial(s);
      if (!digits) {
        unnumbered++;
        continue;
      }
      const k = `${prefix}\u0000${digits.length}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { prefix, width: digits.length, nums: [] }));
      g.nums.push(Number(digits));
    }
    const runs = [...groups.values()].map((g) => {
      g.nums.sort((a, b) => a - b);
      const fmt = (n: number): string => g.prefix + String(n).padStart(g.width, '0');
      const gaps: SerialGap[] = [];
      for (let i = 1; i < g.nums.length; i++) {
        const prev = g.nums[i - 1]!;
        const cur = g.nums[i]!;
        if (cur > prev + 1)
          gaps.push({ from: fmt(prev + 1), to: fmt(cur - 1), count: cur - prev - 1 });
      }
      return {
        prefix: g.prefix,
        first: fmt(g.nums[0]!),
        last: fmt(g.nums.at(-1)!),
        present: g.nums.length,
        missing: gaps.reduce((a, x) => a + x.count, 0),
        gaps,
      };
    });
    return { batchId: id, booklets: total, runs, unnumbered };
  });
}
