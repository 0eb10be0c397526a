import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lookupBooklet } from './booklets.ts';
import { isProfileAccepted } from './agencies.ts';
import { signManifest } from './manifest.ts';
import { getOutboxRecord, markOutboxDelivered, pendingOutbox } from './outbox.ts';
import { listAudit, verifyAudit } from './audit.ts';
import {
  allocateStock,
  importManifest,
  listTrustedKeys,
  ManifestRefusedError,
  revokeKey,
  trustKey,
  parseSerialSpec,
  serialGaps,
  type ManifestRefusalReason,
} from './stock.ts';
import {
  createTestStation,
  databaseFingerprint,
  TEST_AGENCY,
  type TestStation,
} from './testing.ts';
import { addAgency, addChipProfile } from './agencies.ts';

let st: TestStation;
beforeEach(() => {
  st = createTestStation();
});
afterEach(() => st.close());

function expectRefused(text: string, reason: ManifestRefusalReason, message: RegExp): void {
  const before = databaseFingerprint(st.db);
  let caught: unknown;
  try {
    importManifest(st.db, st.users.supervisor, text);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ManifestRefusedError);
  expect((caught as ManifestRefusedError).reason).toBe(reason);
  expect((caught as Error).message).toMatch(message);
  expect(databaseFingerprint(st.db)).toBe(before);
}

describe('importManifest', () => {
  it('imports a signed manifest: booklets received, audit entry and outbox record', () => {
    const { text } = st.manifest({ batchId: 'B-001', count: 5 });
    const r = importManifest(st.db, st.users.supervisor, text);
    expect(r.booklets).toBe(5);
    const b = lookupBooklet(st.db, 'PE0000003');
    expect(b).toMatchObject({
      batchId: 'B-001',
      agencyCode: TEST_AGENCY,
      state: 'received',
      stockClass: 'production',
      holderStation: 'LIM-AIR-01',
      allocatedStation: null,
    });
    const outbox = pendingOutbox(st.db);
    expect(outbox.map((o) => o.kind)).toEqual(['stock.received']);
    expect(outbox[0]!.idempotencyKey).toBe('stock.received:B-001');
  });

  it('accepts ECDSA P-256 signatures too', () => {
    const ec = createTestStation({ signer: 'ECDSA' });
    try {
      expect(ec.receive('B-EC', 3)).toHaveLength(3);
    } finally {
      ec.close();
    }
  });

  it('refuses a bad signature (one altered booklet)', () => {
    const { text } = st.manifest({ batchId: 'B-002', count: 3 });
    const m = JSON.parse(text);
    m.body.booklets[1].serial = 'PE9999999';
    expectRefused(JSON.stringify(m), 'bad_signature', /does not verify/);
  });

  it('refuses a key the station does not trust', () => {
    const { body } = st.manifest({ batchId: 'B-003', count: 3 });
    const other = generateKeyPairSync('ed25519').privateKey;
    expectRefused(JSON.stringify(signManifest(body, other)), 'untrusted_key', /does not trust/);
  });

  it('refuses a manifest for another agency, even when properly signed', () => {
    const admin = st.users.admin;
    addAgency(st.db, admin, 'PER-RREE', 'Ministerio de Relaciones Exteriores');
    addChipProfile(st.db, admin, {
      agencyCode: 'PER-RREE',
      profileId: 'RREE-1',
      chipOs: 'x',
      appletVersion: '1',
      keyVersion: 1,
    });
    // The Foreign Ministry's own manifest key, trusted for its agency only.
    const rree = generateKeyPairSync('ed25519');
    trustKey(
      st.db,
      admin,
      rree.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      'RREE',
      {
        agency: 'PER-RREE',
      },
    );
    const { body } = st.manifest({
      batchId: 'B-004',
      count: 3,
      agency: 'PER-RREE',
      chipProfile: 'RREE-1',
    });
    expectRefused(
      JSON.stringify(signManifest(body, rree.privateKey)),
      'wrong_agency',
      /coded for agency PER-RREE; this station belongs to PER-MIGRACIONES/,
    );
  });

  it('refuses a manifest signed by a trusted key not bound to its agency', () => {
    const admin = st.users.admin;
    addAgency(st.db, admin, 'PER-RREE', 'Ministerio de Relaciones Exteriores');
    // The station trusts the Foreign Ministry's key for the Foreign Ministry's manifests only:
    // that key cannot vouch for booklets of our agency.
    const rree = generateKeyPairSync('ed25519');
    const k = trustKey(
      st.db,
      admin,
      rree.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      'RREE central office',
      { agency: 'PER-RREE' },
    );
    const { body } = st.manifest({ batchId: 'B-004B', count: 3 });
    expectRefused(
      JSON.stringify(signManifest(body, rree.privateKey)),
      'key_not_authorized',
      new RegExp(
        `key ${k.keyId} \\(RREE central office\\) may sign manifests of agency PER-RREE only; batch B-004B is for agency PER-MIGRACIONES from Test Booklet Works`,
      ),
    );
  });

  it('refuses a manifest from a manufacturer the key is not bound to', () => {
    const maker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    trustKey(
      st.db,
      st.users.admin,
      maker.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      'Other Works signing key',
      { manufacturer: 'Other Works' },
    );
    const { body } = st.manifest({ batchId: 'B-004C', count: 2 });
    expectRefused(
      JSON.stringify(signManifest(body, maker.privateKey)),
      'key_not_authorized',
      /may sign manifests of agency PER-MIGRACIONES from Other Works only; batch B-004C is for agency PER-MIGRACIONES from Test Booklet Works/,
    );
    const own = signManifest({ ...body, manufacturer: 'Other Works' }, maker.privateKey);
    expect(importManifest(st.db, st.users.supervisor, JSON.stringify(own)).booklets).toBe(2);
  });

  it('refuses a chip profile the agency does not accept', () => {
    expect(isProfileAccepted(st.db, TEST_AGENCY, 'OLD-PROFILE')).toBe(false);
    const { text } = st.manifest({ batchId: 'B-005', count: 3, chipProfile: 'OLD-PROFILE' });
    expectRefused(text, 'profile_not_accepted', /does not accept chip profile OLD-PROFILE/);
  });

  it('refuses serials already known (a different batch id)', () => {
    st.receive('B-006', 10);
    const { text } = st.manifest({ batchId: 'B-007', count: 3, start: 9 });
    expectRefused(text, 'serial_known', /serial PE0000009 \(batch B-006\)/);
  });

  it('refuses a batch imported already', () => {
    const { text } = st.manifest({ batchId: 'B-008', count: 2 });
    importManifest(st.db, st.users.supervisor, text);
    expectRefused(text, 'batch_known', /B-008 was imported already/);
  });

  it('refuses a manifest listing a serial twice', () => {
    const { body } = st.manifest({ batchId: 'B-009', count: 3 });
    body.booklets.push({ ...body.booklets[0]!, chipSerial: 'ABCDEF0123' });
    expectRefused(
      JSON.stringify(signManifest(body, st.signerKeyPem)),
      'duplicate_in_manifest',
      /serial PE0000001/,
    );
  });

  it('refuses malformed files, naming the field', () => {
    expectRefused('{not json', 'malformed', /not valid JSON/);
    const { text } = st.manifest({ batchId: 'B-010', count: 2 });
    const m = JSON.parse(text);
    m.body.booklets[1].chipSerial = 'xyz';
    expectRefused(JSON.stringify(m), 'malformed', /body\.booklets\[1\]\.chipSerial/);
    const m2 = JSON.parse(text);
    delete m2.body.agency;
    expectRefused(JSON.stringify(m2), 'malformed', /body\.agency/);
    const m3 = JSON.parse(text);
    m3.extra = 1;
    expectRefused(JSON.stringify(m3), 'malformed', /extra/);
  });

  it('only lets a supervisor import', () => {
    const { text } = st.manifest({ batchId: 'B-011', count: 2 });
    expect(() => importManifest(st.db, st.users.operator, text)).toThrow(
      /needs the role supervisor/,
    );
  });
});

describe('allocation and serial specs', () => {
  it('expands ranges and lists', () => {
    expect(parseSerialSpec('PE0000001-PE0000003,PE0000007')).toEqual([
      'PE0000001',
      'PE0000002',
      'PE0000003',
      'PE0000007',
    ]);
    expect(() => parseSerialSpec('PE01-PE001')).toThrow(/same prefix and number of digits/);
    expect(() => parseSerialSpec('PE0005-PE0001')).toThrow(/backwards/);
    expect(() => parseSerialSpec('PE0001,PE0001')).toThrow(/more than once/);
  });

  it('allocates all or nothing, to this or another station', () => {
    const serials = st.receive('B-100', 10);
    const res = allocateStock(st.db, st.users.supervisor, {
      batchId: 'B-100',
      serials: parseSerialSpec('PE0000001-PE0000004'),
      toStation: 'LIM-AIR-02',
    });
    expect(res).toHaveLength(4);
    expect(lookupBooklet(st.db, serials[0]!)).toMatchObject({
      state: 'allocated',
      allocatedStation: 'LIM-AIR-02',
    });
    const before = databaseFingerprint(st.db);
    // PE0000004 is allocated already: the whole request fails.
    expect(() =>
      allocateStock(st.db, st.users.supervisor, {
        batchId: 'B-100',
        serials: ['PE0000005', 'PE0000004'],
      }),
    ).toThrow(/cannot go from allocated to allocated/);
    expect(() =>
      allocateStock(st.db, st.users.supervisor, { batchId: 'B-999', serials: ['PE0000005'] }),
    ).toThrow(/no batch B-999/);
    expect(databaseFingerprint(st.db)).toBe(before);
    expect(() =>
      allocateStock(st.db, st.users.operator, { batchId: 'B-100', serials: ['PE0000005'] }),
    ).toThrow(/needs the role supervisor/);
  });

  it('reports serial gaps per batch', () => {
    const { body } = st.manifest({ batchId: 'B-200', count: 10 });
    body.booklets = body.booklets.filter(
      (b) => !['PE0000003', 'PE0000006', 'PE0000007'].includes(b.serial),
    );
    importManifest(st.db, st.users.supervisor, JSON.stringify(signManifest(body, st.signerKeyPem)));
    const [report] = serialGaps(st.db, 'B-200');
    expect(report!.runs).toEqual([
      {
        prefix: 'PE',
        first: 'PE0000001',
        last: 'PE0000010',
        present: 7,
        missing: 3,
        gaps: [
          { from: 'PE0000003', to: 'PE0000003', count: 1 },
          { from: 'PE0000006', to: 'PE0000007', count: 2 },
        ],
      },
    ]);
  });
});

describe('trusted manifest keys are protected like the audit log', () => {
  it('refuses to delete a key, undo a revocation or change key material', () => {
    const [k] = listTrustedKeys(st.db);
    expect(k).toMatchObject({ agency: TEST_AGENCY, manufacturer: null, revokedAt: null });
    const id = k!.keyId;
    expect(() => st.db.prepare('DELETE FROM trusted_keys WHERE key_id = ?').run(id)).toThrow(
      /never deleted/,
    );
    expect(() =>
      st.db.prepare("UPDATE trusted_keys SET agency_code = 'PER-RREE' WHERE key_id = ?").run(id),
    ).toThrow(/can only be revoked, once/);
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' });
    expect(() =>
      st.db.prepare('UPDATE trusted_keys SET public_key_pem = ? WHERE key_id = ?').run(other, id),
    ).toThrow(/can only be revoked, once/);
    revokeKey(st.db, st.users.admin, id);
    expect(() =>
      st.db.prepare('UPDATE trusted_keys SET revoked_at = NULL WHERE key_id = ?').run(id),
    ).toThrow(/can only be revoked, once/);
    expect(() =>
      st.db.prepare("UPDATE trusted_keys SET revoked_at = '2000-01-01' WHERE key_id = ?").run(id),
    ).toThrow(/can only be revoked, once/);
    const { text } = st.manifest({ batchId: 'B-REV', count: 1 });
    expectRefused(text, 'untrusted_key', /revoked on/);
  });

  it('audit verify names a trusted_keys trigger replaced by one that does nothing', () => {
    st.db.exec(`DROP TRIGGER trusted_keys_revoke_only;
      CREATE TRIGGER trusted_keys_revoke_only BEFORE UPDATE ON trusted_keys BEGIN SELECT 1; END;`);
    expect(verifyAudit(st.db).problems).toEqual([
      expect.objectContaining({
        kind: 'protection_altered',
        message: expect.stringMatching(
          /^the trigger trusted_keys_revoke_only that protects trusted_keys was altered/,
        ),
      }),
    ]);
  });
});

describe('outbox', () => {
  it('is append-only and carries the audit head of the moment it was queued', () => {
    st.receive('B-OUT', 2);
    const [rec] = pendingOutbox(st.db);
    const entry = listAudit(st.db, { limit: 1000 }).find((e) => e.action === 'stock.imported')!;
    expect(rec!.auditHead).toEqual({
      seq: entry.seq,
      hash: entry.hash,
      signature: entry.signature,
    });
    expect(entry.signature).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(() => st.db.prepare("UPDATE outbox SET payload = '{}'").run()).toThrow(/append-only/);
    expect(() => st.db.prepare('DELETE FROM outbox').run()).toThrow(/append-only/);
  });

  it('marks delivery once, in its own append-only table', () => {
    st.receive('B-DEL', 1);
    const [rec] = pendingOutbox(st.db);
    markOutboxDelivered(st.db, rec!.id, new Date('2026-02-01T00:00:00Z'));
    markOutboxDelivered(st.db, rec!.id, new Date('2026-03-01T00:00:00Z'));
    expect(pendingOutbox(st.db)).toEqual([]);
    expect(getOutboxRecord(st.db, rec!.id)!.deliveredAt).toBe('2026-02-01T00:00:00.000Z');
    expect(() => st.db.prepare('DELETE FROM outbox_delivery').run()).toThrow(/append-only/);
    expect(() => markOutboxDelivered(st.db, 999_999)).toThrow(/no outbox record 999999/);
  });
});
