/**
 * Verification of a station's audit chain as its entries arrive, in the station's own format
 * (docs/sync.md): the entry hash is SHA-256 over the JSON array of its fields, the signature is
 * ECDSA P-256 (IEEE P1363) by the enrolled station audit key over a labelled statement. Written
 * here from the documented format: the central office imports nothing from station/.
 */
import { createHash, verify, type KeyObject } from 'node:crypto';
import type { PushAuditEntry } from '../contracts/sync.ts';

export const AUDIT_GENESIS = '0'.repeat(64);

export function entryHash(e: Omit<PushAuditEntry, 'hash' | 'signature'>): string {
  const material = JSON.stringify([
    e.seq,
    e.at,
    e.actor,
    e.stationId,
    e.action,
    e.details,
    e.prevHash,
  ]);
  return createHash('sha256').update(material, 'utf8').digest('hex');
}

export function entryStatement(hash: string): Buffer {
  return Buffer.from(`perso-station/audit-entry@1\n${hash}`, 'utf8');
}

export function entrySignatureValid(key: KeyObject, hash: string, sigB64: string): boolean {
  try {
    return verify(
      'sha256',
      entryStatement(hash),
      { key, dsaEncoding: 'ieee-p1363' },
      Buffer.from(sigB64, 'base64'),
    );
  } catch {
    return false;
  }
}

export type AuditFlagKind = 'edited' | 'removed' | 'reordered' | 'forged' | 'head_mismatch';

export interface AuditFlag {
  kind: AuditFlagKind;
  seq: number | null;
  toSeq?: number;
  message: string;
}

/** What the chain looked like before this batch. */
export interface ChainState {
  lastSeq: number;
  lastHash: string;
  /** A signed entry was already received: unsigned ones are forged from then on. */
  signedSeen: boolean;
  /** The stored entry that carries `hash`, if any (to recognise a moved entry). */
  seqOfHash(hash: string): Promise<number | undefined>;
  storedHash(seq: number): Promise<string | undefined>;
}

/**
 * Judges a batch of entries (ascending seqs) against the chain so far: returns the new entries
 * to store and the flags. Entries already stored are not stored again; one that comes back
 * with another hash was rewritten after delivery.
 */
export async function checkEntries(
  entries: readonly PushAuditEntry[],
  state: ChainState,
  auditKey: KeyObject,
): Promise<{ fresh: PushAuditEntry[]; flags: AuditFlag[]; lastSeq: number }> {
  const flags: AuditFlag[] = [];
  const fresh: PushAuditEntry[] = [];
  // Every entry of the batch by its hash, as the station's verifier sees its whole log: an
  // entry moved before the one it was written after links forward.
  const batchSeqOfHash = new Map(entries.map((e) => [e.hash, e.seq]));
  let expectedPrev = state.lastHash;
  let lastSeq = state.lastSeq;
  let signedSeen = state.signedSeen;
  for (const e of entries) {
    const what = `entry #${e.seq} (${e.action} by ${e.actor} at ${e.at})`;
    if (e.seq <= lastSeq) {
      const stored = await state.storedHash(e.seq);
      if (stored !== undefined && stored !== e.hash)
        flags.push({
          kind: 'edited',
          seq: e.seq,
          message: `${what} differs from the one the central office received before: it was rewritten at the station`,
        });
      continue;
    }
    if (e.seq > lastSeq + 1) {
      const from = lastSeq + 1;
      flags.push({
        kind: 'removed',
        seq: from,
        toSeq: e.seq - 1,
        message:
          from === e.seq - 1
            ? `entry #${from} was removed: the station's chain goes from #${lastSeq} to #${e.seq}`
            : `entries #${from}..#${e.seq - 1} were removed: the station's chain goes from #${lastSeq} to #${e.seq}`,
      });
      // The entry after a gap cannot link to what was seen last; judge it on its own hash.
      expectedPrev = e.prevHash;
    }
    const recomputed = entryHash(e);
    let linkedTo: number | undefined;
    if (e.prevHash !== expectedPrev && e.prevHash !== AUDIT_GENESIS)
      linkedTo = batchSeqOfHash.get(e.prevHash) ?? (await state.seqOfHash(e.prevHash));
    if (linkedTo !== undefined && linkedTo !== e.seq - 1)
      flags.push({
        kind: 'reordered',
        seq: e.seq,
        message: `${what} is out of order: it was written right after entry #${linkedTo}`,
      });
    else if (recomputed !== e.hash)
      flags.push({
        kind: 'edited',
        seq: e.seq,
        message: `${what} was edited: its contents no longer match its hash`,
      });
    else if (e.prevHash !== expectedPrev)
      flags.push({
        kind: 'edited',
        seq: e.seq,
        message: `entry #${e.seq} does not link to the entry before it (the chain was rewritten)`,
      });
    if (e.signature === null) {
      if (signedSeen)
        flags.push({
          kind: 'forged',
          seq: e.seq,
          message: `${what} is not signed by the station audit key`,
        });
    } else {
      signedSeen = true;
      if (!entrySignatureValid(auditKey, e.hash, e.signature))
        flags.push({
          kind: 'forged',
          seq: e.seq,
          message: `${what} carries a signature the station audit key did not make`,
        });
    }
    fresh.push(e);
    expectedPrev = e.hash;
    lastSeq = e.seq;
  }
  return { fresh, flags, lastSeq };
}
