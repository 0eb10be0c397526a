import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stationDbPath } from '../db/open.ts';
import {
  ApplicationIntegrityError,
  createStationDataKey,
  importApplication,
  listQueue,
  openStationDataKey,
  take,
  takeNext,
} from '../station/applications/index.ts';
import { createPkcs11DataKey, DATA_KEY_LABEL } from '../station/keys/data-key.ts';
import { writeKeyCustodyConfig } from '../station/keys/open.ts';
import { createTestStation } from '../station/testing.ts';
import { createSoftHsmToken } from './helpers/softhsm.ts';

const token = createSoftHsmToken('perso-data');
const FIXTURES = join(import.meta.dirname, 'fixtures/mrtd');
const dir = mkdtempSync(join(tmpdir(), 'applications-hsm-'));
copyFileSync(join(FIXTURES, 'face.jpg'), join(dir, 'face.jpg'));
copyFileSync(join(FIXTURES, 'signature.jpg'), join(dir, 'signature.jpg'));
const st = createTestStation();
afterAll(() => {
  st.close();
  token.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const env = { T_HSM_PIN: token.userPin };
const target = { module: token.module, token: token.label, pin: token.userPin };
writeKeyCustodyConfig(st.dataDir, {
  kind: 'pkcs11',
  module: token.module,
  token: token.label,
  pinEnv: 'T_HSM_PIN',
});
const { documentNumber: _n, ...app } = JSON.parse(
  readFileSync(join(FIXTURES, 'application.json'), 'utf8'),
) as Record<string, unknown>;

describe('applications sealed under a PKCS#11 token data key (SoftHSM2)', () => {
  it('says the token has no data key, then an admin generates one inside the token', async () => {
    await expect(openStationDataKey(st.dataDir, { env })).rejects.toThrow(
      /no application data key \(looked in token 'perso-data'\).*station keys data-key create/,
    );
    const info = await createStationDataKey(st.db, st.users.admin, st.dataDir, { env });
    expect(info).toEqual({ kind: 'pkcs11', label: DATA_KEY_LABEL, where: "token 'perso-data'" });
    expect(() => createPkcs11DataKey(target)).toThrow(/already holds data\/applications\/v1/);
  });

  it('keeps the key inside the token: sensitive, not extractable, its value unreadable', async () => {
    const graphene = await import('graphene-pk11');
    const mod = graphene.Module.load(token.module);
    mod.initialize();
    try {
      const session = mod.getSlots(true).items(0).open(graphene.SessionFlag.SERIAL_SESSION);
      session.login(token.userPin);
      const key = session.find({ label: DATA_KEY_LABEL }).items(0);
      expect(
        key.getAttribute({ sensitive: null, extractable: null, valueLen: null, wrap: null }),
      ).toEqual({ sensitive: true, extractable: false, valueLen: 32, wrap: false });
      expect(() => key.getAttribute('value')).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      session.close();
    } finally {
      mod.finalize();
    }
  });

  it('imports and takes an application through the token, nothing readable in the file', async () => {
    const keys = await openStationDataKey(st.dataDir, { env });
    try {
      expect(keys.kind).toBe('pkcs11');
      importApplication(st.db, keys, st.users.supervisor, JSON.stringify(app), dir);
      importApplication(
        st.db,
        keys,
        st.users.supervisor,
        JSON.stringify({ ...app, surname: 'Quispe' }),
        dir,
      );
      st.db.pragma('wal_checkpoint(TRUNCATE)');
      const raw = readFileSync(stationDbPath(st.dataDir));
      for (const s of ['Núñez', 'NUNEZ', 'Quispe', 'María', '1985-03-14'])
        expect(raw.includes(Buffer.from(s))).toBe(false);
      const face = readFileSync(join(dir, 'face.jpg'));
      expect(raw.includes(face.subarray(4000, 4032))).toBe(false);
      const t = takeNext(st.db, keys, st.users.operator)!;
      expect(t.details.surname).toBe('Núñez del Río');
      expect(t.face.equals(face)).toBe(true);
      // A wrapped key moved to another row does not unwrap in the token either.
      const k1 = st.db.prepare('SELECT wrapped_key FROM applications WHERE id = 1').pluck().get();
      st.db.prepare('UPDATE applications SET wrapped_key = ? WHERE id = 2').run(k1);
      expect(() => take(st.db, keys, st.users.operator, 2)).toThrow(ApplicationIntegrityError);
      expect(listQueue(st.db, st.users.operator).map((q) => q.status)).toEqual([
        'taken',
        'on_hold',
      ]);
    } finally {
      await keys.close();
    }
  });

  it('needs the PIN, and never shows it', async () => {
    await expect(openStationDataKey(st.dataDir, { env: {} })).rejects.toThrow(
      /set the environment variable T_HSM_PIN/,
    );
    const wrong = await openStationDataKey(st.dataDir, { env: { T_HSM_PIN: '999999' } }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(wrong?.message).toMatch(/refused the PIN/);
    expect(wrong?.message).not.toContain('999999');
  });
});
