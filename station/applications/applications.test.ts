import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stationDbPath } from '../../db/open.ts';
import { mrzOf } from '../../mrtd/application.ts';
import { listAudit } from '../audit.ts';
import { PermissionError, StationError } from '../errors.ts';
import {
  createDevDataKeyFile,
  openDevDataKeyFile,
  type ApplicationDataKey,
} from '../keys/data-key.ts';
import { KeyCustodyError } from '../keys/errors.ts';
import { writeKeyCustodyConfig } from '../keys/open.ts';
import { createTestStation, databaseFingerprint, type TestStation } from '../testing.ts';
import {
  ApplicationIntegrityError,
  ApplicationRefusedError,
  cancel,
  createStationDataKey,
  hold,
  importApplication,
  listQueue,
  markPersonalized,
  MAX_FACE_BYTES,
  openStationDataKey,
  release,
  returnToQueue,
  showApplication,
  take,
  takeNext,
} from './index.ts';

const FIXTURES = join(import.meta.dirname, '../../test/fixtures/mrtd');
const PASS = 'applications test passphrase';
const dir = mkdtempSync(join(tmpdir(), 'applications-'));
const face = readFileSync(join(FIXTURES, 'face.jpg'));
const signature = readFileSync(join(FIXTURES, 'signature.jpg'));
copyFileSync(join(FIXTURES, 'face.jpg'), join(dir, 'face.jpg'));
copyFileSync(join(FIXTURES, 'signature.jpg'), join(dir, 'signature.jpg'));
copyFileSync(join(FIXTURES, 'face.jp2'), join(dir, 'face.jp2'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A valid queued application; `over` replaces or (with undefined) removes fields. */
function application(over: Record<string, unknown> = {}): string {
  const { documentNumber: _n, ...base } = JSON.parse(
    readFileSync(join(FIXTURES, 'application.json'), 'utf8'),
  ) as Record<string, unknown>;
  return JSON.stringify({ ...base, ...over });
}

let st: TestStation;
let keys: ApplicationDataKey;
beforeAll(async () => {
  await createDevDataKeyFile(join(dir, 'data-key.json'), PASS, { scryptN: 1 << 14 });
});
beforeEach(async () => {
  st = createTestStation();
  keys = await openDevDataKeyFile(join(dir, 'data-key.json'), PASS);
});
afterEach(async () => {
  await keys.close();
  st.close();
});

const importOne = (over: Record<string, unknown> = {}) =>
  importApplication(st.db, keys, st.users.supervisor, application(over), dir);

function refusal(fn: () => unknown): ApplicationRefusedError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ApplicationRefusedError);
  return caught as ApplicationRefusedError;
}

describe('import', () => {
  it('queues a valid application, sealed, and audits it with its id only', () => {
    const r = importOne();
    expect(r).toMatchObject({ id: 1, status: 'queued', documentCode: 'P', issuingState: 'PER' });
    const [e] = listQueue(st.db, st.users.operator);
    expect(e).toMatchObject({ id: 1, status: 'queued', takenBy: null, documentNumber: null });
    expect(JSON.stringify(e)).not.toMatch(/N[úu]ñ?n?ez|Mar[íi]a|1985/i);
    const audit = listAudit(st.db).filter((a) => a.action.startsWith('application.'));
    expect(audit.map((a) => [a.action, a.details])).toEqual([
      ['application.imported', { applicationId: 1 }],
    ]);
    const fields = st.db
      .prepare('SELECT field FROM application_data WHERE application_id = 1 ORDER BY field')
      .pluck()
      .all();
    expect(fields).toEqual(['details', 'face', 'signature']);
  });

  it('accepts a JPEG 2000 face and no signature', () => {
    importOne({ faceImage: 'face.jp2', signatureImage: undefined });
    const t = take(st.db, keys, st.users.operator, 1);
    expect(t.face.equals(readFileSync(join(dir, 'face.jp2')))).toBe(true);
    expect(t.signature).toBeUndefined();
  });

  it('refuses a bad file naming every bad field, and writes nothing', () => {
    importOne();
    const before = databaseFingerprint(st.db);
    const e = refusal(() =>
      importOne({ dateOfBirth: '1985-02-30', sex: 'Q', nickname: 'Majo', documentNumber: 'X1' }),
    );
    const fields = e.errors.map((x) => x.field).sort();
    expect(fields).toEqual(['dateOfBirth', 'documentNumber', 'nickname', 'sex']);
    expect(e.message).toMatch(/dateOfBirth: .*\(got "1985-02-30"\)/);
    expect(e.message).toMatch(/documentNumber: must not be given/);
    expect(e.message).toMatch(/nickname/);
    expect(databaseFingerprint(st.db)).toBe(before);
  });

  it('refuses text that is not JSON, or too large, naming it', () => {
    expect(
      refusal(() => importApplication(st.db, keys, st.users.supervisor, '{"surname":', dir))
        .message,
    ).toMatch(/\(application\): is not valid JSON/);
    const big = application({ additionalPersonalDetails: { address: 'x'.repeat(70_000) } });
    expect(
      refusal(() => importApplication(st.db, keys, st.users.supervisor, big, dir)).message,
    ).toMatch(/\(application\): is \d+ bytes; at most 65536/);
    expect(listQueue(st.db, st.users.supervisor, { all: true })).toEqual([]);
  });

  it('refuses a missing, wrong or oversize image, naming the field', () => {
    writeFileSync(join(dir, 'not-an-image.jpg'), '\x89PNG\r\n\x1a\n not a jpeg at all');
    const big = Buffer.alloc(MAX_FACE_BYTES + 1);
    face.copy(big);
    writeFileSync(join(dir, 'big.jpg'), big);
    const before = databaseFingerprint(st.db);
    expect(refusal(() => importOne({ faceImage: undefined })).errors).toEqual([
      { field: 'faceImage', value: '', reason: 'is required (DG2, the chip face)' },
    ]);
    const wrong = refusal(() => importOne({ faceImage: 'not-an-image.jpg' }));
    expect(wrong.errors[0]).toMatchObject({ field: 'faceImage', value: 'not-an-image.jpg' });
    expect(wrong.errors[0]!.reason).toMatch(/not a JPEG or JPEG 2000/);
    const huge = refusal(() => importOne({ faceImage: 'big.jpg' }));
    expect(huge.message).toMatch(/faceImage: is 262145 bytes; at most 262144 are accepted/);
    const missing = refusal(() =>
      importOne({ signatureImage: 'nowhere.jpg', faceImage: '/etc/passwd' }),
    );
    expect(missing.errors.map((x) => [x.field, x.reason])).toEqual([
      ['faceImage', 'must be a path relative to the application file'],
      ['signatureImage', 'cannot be read (ENOENT)'],
    ]);
    expect(databaseFingerprint(st.db)).toBe(before);
  });

  it('refuses the same application twice unless the first was cancelled', () => {
    importOne();
    expect(() => importOne()).toThrow(/already at the station as application 1 \(queued\)/);
    cancel(st.db, st.users.supervisor, 1);
    expect(importOne().id).toBe(2);
  });

  it('is for supervisors only', () => {
    for (const who of ['operator', 'technician', 'admin'] as const)
      expect(() => importApplication(st.db, keys, st.users[who], application(), dir)).toThrow(
        PermissionError,
      );
  });
});

describe('encryption at rest', () => {
  it('leaves no name, date of birth, place of birth or face bytes in the database files', () => {
    importOne();
    importOne({ faceImage: 'face.jp2', surname: 'Quispe Mamani', givenNames: 'Wilfredo' });
    const needles = [
      'Núñez',
      'NÚÑEZ',
      'NUNEZ',
      'María',
      'Quispe',
      'QUISPE',
      'Wilfredo',
      'Lima, Per',
      '1985-03-14',
      '850314',
      '45678912',
    ].map((s) => Buffer.from(s, 'utf8'));
    // 32-byte windows from the middle of each image, and the JPEG quantization tables.
    for (const img of [face, signature, readFileSync(join(dir, 'face.jp2'))]) {
      const mid = Math.floor(img.length / 2);
      needles.push(img.subarray(mid, mid + 32), img.subarray(20, 52));
    }
    const file = stationDbPath(st.dataDir);
    const scan = (): void => {
      for (const path of [file, `${file}-wal`]) {
        if (!existsSync(path)) continue;
        const raw = readFileSync(path);
        for (const n of needles)
          expect(raw.includes(n), `${path} holds ${n.toString()}`).toBe(false);
      }
    };
    scan(); // the WAL, before the checkpoint
    st.db.pragma('wal_checkpoint(TRUNCATE)');
    expect(readFileSync(file).length).toBeGreaterThan(face.length); // the sealed face is there
    scan();
    // The scan can see: the same data stored in the clear would be found.
    st.db.exec('CREATE TABLE probe (b BLOB)');
    st.db.prepare('INSERT INTO probe VALUES (?)').run(face);
    st.db.pragma('wal_checkpoint(TRUNCATE)');
    expect(readFileSync(file).includes(needles.at(-6)!)).toBe(true);
  });

  it('refuses data moved between rows or fields, naming what failed, and holds the application', () => {
    importOne();
    importOne({ faceImage: 'face.jp2', surname: 'Quispe' });
    importOne({ surname: 'Ávila' });
    const swap = (field: string, a: number, b: number): void => {
      const get = st.db
        .prepare('SELECT sealed FROM application_data WHERE application_id = ? AND field = ?')
        .pluck();
      const x = get.get(a, field) as Buffer;
      const y = get.get(b, field) as Buffer;
      const put = st.db.prepare(
        'UPDATE application_data SET sealed = ? WHERE application_id = ? AND field = ?',
      );
      put.run(y, a, field);
      put.run(x, b, field);
    };
    swap('face', 1, 2);
    let e: unknown;
    try {
      take(st.db, keys, st.users.operator, 2);
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(ApplicationIntegrityError);
    expect((e as Error).message).toMatch(/^application 2: the sealed face does not decrypt/);
    expect(listQueue(st.db, st.users.supervisor).map((q) => [q.id, q.status])).toEqual([
      [1, 'queued'],
      [2, 'on_hold'],
      [3, 'queued'],
    ]);
    const last = listAudit(st.db).at(-1)!;
    expect([last.action, last.details]).toEqual([
      'application.held_integrity',
      { applicationId: 2, from: 'queued', to: 'on_hold' },
    ]);
    // Whole rows moved: the wrapped key is bound to its id too.
    const wrapped = st.db.prepare('SELECT wrapped_key FROM applications WHERE id = ?').pluck();
    const k1 = wrapped.get(1) as Buffer;
    const k3 = wrapped.get(3) as Buffer;
    st.db.prepare('UPDATE applications SET wrapped_key = ? WHERE id = 3').run(k1);
    st.db.prepare('UPDATE applications SET wrapped_key = ? WHERE id = 1').run(k3);
    swap('details', 1, 3);
    swap('face', 1, 3);
    swap('signature', 1, 3);
    expect(() => takeNext(st.db, keys, st.users.operator)).toThrow(
      /^application 1: its data key does not unwrap/,
    );
    expect(() => showApplication(st.db, keys, st.users.supervisor, 3)).toThrow(
      /^application 3: its data key does not unwrap/,
    );
  });

  it('refuses a field moved to another field of the same application', () => {
    importOne();
    st.db
      .prepare(
        "UPDATE application_data SET sealed = (SELECT sealed FROM application_data WHERE application_id = 1 AND field = 'signature') WHERE application_id = 1 AND field = 'face'",
      )
      .run();
    expect(() => take(st.db, keys, st.users.operator, 1)).toThrow(
      /application 1: the sealed face does not decrypt/,
    );
  });

  it('refuses data sealed under another data key', async () => {
    importOne();
    await createDevDataKeyFile(join(dir, 'other-key.json'), PASS, { scryptN: 1 << 14 });
    const other = await openDevDataKeyFile(join(dir, 'other-key.json'), PASS);
    try {
      expect(() => take(st.db, other, st.users.operator, 1)).toThrow(ApplicationIntegrityError);
    } finally {
      await other.close();
    }
  });
});

describe('the queue', () => {
  it('takes the oldest queued application, passing over held ones, or a chosen one', () => {
    for (const surname of ['Uno', 'Dos', 'Tres', 'Cuatro']) importOne({ surname });
    hold(st.db, st.users.supervisor, 1);
    const first = takeNext(st.db, keys, st.users.operator)!;
    expect([first.id, first.details.surname]).toEqual([2, 'Dos']);
    expect(first.face.equals(face)).toBe(true);
    expect(first.signature!.equals(signature)).toBe(true);
    const chosen = take(st.db, keys, st.users.operator, 4);
    expect(chosen.details.surname).toBe('Cuatro');
    expect(takeNext(st.db, keys, st.users.operator)!.id).toBe(3);
    expect(takeNext(st.db, keys, st.users.operator)).toBeUndefined();
    expect(listQueue(st.db, st.users.operator).map((q) => [q.id, q.status, q.takenBy])).toEqual([
      [1, 'on_hold', null],
      [2, 'taken', 'oper'],
      [3, 'taken', 'oper'],
      [4, 'taken', 'oper'],
    ]);
    expect(() => take(st.db, keys, st.users.operator, 4)).toThrow(
      /application 4 is taken: it cannot be taken \(only an application that is queued can\)/,
    );
    expect(() => take(st.db, keys, st.users.operator, 9)).toThrow(/no application 9/);
    returnToQueue(st.db, st.users.operator, 2);
    expect(takeNext(st.db, keys, st.users.supervisor)!.id).toBe(2);
  });

  it('gives the full application once the document number is known', () => {
    importOne();
    const t = takeNext(st.db, keys, st.users.operator)!;
    const app = t.toApplication('PE0000042');
    expect(app.documentNumber).toBe('PE0000042');
    expect(mrzOf(app).line2.startsWith('PE0000042')).toBe(true);
    expect(mrzOf(app).line1).toBe('P<PERNUNEZ<DEL<RIO<<MARIA<JOSE<<<<<<<<<<<<<<');
    expect(() => t.toApplication('pe-1')).toThrow(/documentNumber/);
  });

  it('marks personalized inside the caller transaction, erasing the personal data', () => {
    importOne();
    importOne({ surname: 'Otra' });
    take(st.db, keys, st.users.operator, 1);
    take(st.db, keys, st.users.operator, 2);
    // The job's issuance transaction fails after marking: nothing of it stays.
    expect(() =>
      st.db.transaction(() => {
        markPersonalized(st.db, st.users.operator, 1, 'PE0000001');
        throw new Error('issuance record failed');
      })(),
    ).toThrow('issuance record failed');
    expect(listQueue(st.db, st.users.operator)[0]).toMatchObject({ id: 1, status: 'taken' });
    st.db.transaction(() => markPersonalized(st.db, st.users.operator, 1, 'PE0000001'))();
    const done = listQueue(st.db, st.users.operator, { all: true })[0]!;
    expect(done).toMatchObject({ status: 'personalized', documentNumber: 'PE0000001' });
    expect(
      st.db.prepare('SELECT count(*) FROM application_data WHERE application_id = 1').pluck().get(),
    ).toBe(0);
    expect(showApplication(st.db, keys, st.users.supervisor, 1).details).toBeUndefined();
    expect(() => markPersonalized(st.db, st.users.operator, 2, 'PE0000001')).toThrow(
      /document number PE0000001 was already given to application 1/,
    );
    expect(() => markPersonalized(st.db, st.users.operator, 2, 'pe 1')).toThrow(/not valid/);
    expect(() => returnToQueue(st.db, st.users.operator, 1)).toThrow(/is personalized/);
    expect(() => markPersonalized(st.db, st.users.operator, 1, 'PE0000009')).toThrow(
      /is personalized/,
    );
  });

  it('lets only a supervisor hold, release, cancel or see personal data; each move audited', () => {
    importOne();
    importOne({ surname: 'Otra' });
    for (const fn of [hold, release, cancel])
      expect(() => fn(st.db, st.users.operator, 1)).toThrow(PermissionError);
    expect(() => showApplication(st.db, keys, st.users.operator, 1)).toThrow(PermissionError);
    for (const fn of [listQueue, takeNext] as const)
      expect(() => fn(st.db, keys as never, st.users.technician)).toThrow(PermissionError);
    hold(st.db, st.users.supervisor, 1);
    expect(() => take(st.db, keys, st.users.operator, 1)).toThrow(/is on_hold/);
    expect(() => hold(st.db, st.users.supervisor, 1)).toThrow(
      /is on_hold: it cannot be put on hold/,
    );
    release(st.db, st.users.supervisor, 1);
    expect(() => release(st.db, st.users.supervisor, 1)).toThrow(/is queued/);
    hold(st.db, st.users.supervisor, 1);
    cancel(st.db, st.users.supervisor, 1);
    take(st.db, keys, st.users.operator, 2);
    expect(() => cancel(st.db, st.users.supervisor, 2)).toThrow(
      /application 2 is taken: it cannot be cancelled \(only an application that is queued or on_hold can\)/,
    );
    expect(() => release(st.db, st.users.supervisor, 1)).toThrow(/is cancelled/);
    const shown = showApplication(st.db, keys, st.users.supervisor, 2);
    expect(shown.details?.surname).toBe('Otra');
    expect(shown.face).toEqual({ bytes: face.length });
    const audit = listAudit(st.db)
      .filter((a) => a.action.startsWith('application.'))
      .map((a) => [a.action, a.actor, a.details]);
    expect(audit).toEqual([
      ['application.imported', 'super', { applicationId: 1 }],
      ['application.imported', 'super', { applicationId: 2 }],
      ['application.held', 'super', { applicationId: 1, from: 'queued', to: 'on_hold' }],
      ['application.released', 'super', { applicationId: 1, from: 'on_hold', to: 'queued' }],
      ['application.held', 'super', { applicationId: 1, from: 'queued', to: 'on_hold' }],
      ['application.cancelled', 'super', { applicationId: 1, from: 'on_hold', to: 'cancelled' }],
      ['application.taken', 'oper', { applicationId: 2, from: 'queued', to: 'taken' }],
      ['application.shown', 'super', { applicationId: 2 }],
    ]);
    expect(JSON.stringify(listAudit(st.db))).not.toMatch(/Otra|N[úu]ñez|1985/);
  });

  it('keeps the legal transitions in the database too', () => {
    importOne();
    expect(() =>
      st.db.prepare("UPDATE applications SET status = 'taken' WHERE id = 1").run(),
    ).toThrow(/CHECK constraint/);
    expect(() => st.db.prepare('DELETE FROM applications WHERE id = 1').run()).toThrow(
      /never deleted/,
    );
  });
});

describe('the station data key', () => {
  it('says clearly when the station has none, and an admin creates it once, audited', async () => {
    writeKeyCustodyConfig(st.dataDir, {
      kind: 'dev-file',
      path: 'dev-transport-keys.json',
      passphraseEnv: 'T_PASS',
    });
    const options = { development: true, env: { T_PASS: PASS } };
    const missing = await openStationDataKey(st.dataDir, options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(missing).toBeInstanceOf(KeyCustodyError);
    expect((missing as KeyCustodyError).code).toBe('DATA_KEY_MISSING');
    expect((missing as Error).message).toMatch(/station keys data-key create --user <admin>/);
    await expect(
      createStationDataKey(st.db, st.users.supervisor, st.dataDir, options),
    ).rejects.toThrow(PermissionError);
    const info = await createStationDataKey(st.db, st.users.admin, st.dataDir, {
      ...options,
      scryptN: 1 << 14,
    });
    expect(info).toMatchObject({ kind: 'dev-file', label: 'data/applications/v1' });
    expect(listAudit(st.db).at(-1)!.action).toBe('keys.data_key_created');
    await expect(createStationDataKey(st.db, st.users.admin, st.dataDir, options)).rejects.toThrow(
      /already exists/,
    );
    const k = await openStationDataKey(st.dataDir, options);
    await k.close();
    await expect(
      openStationDataKey(st.dataDir, { development: false, env: { T_PASS: PASS } }),
    ).rejects.toThrow(/not in development mode/);
    await expect(
      openStationDataKey(st.dataDir, { development: true, env: { T_PASS: 'wrong' } }),
    ).rejects.toThrow(/wrong passphrase/);
  });

  it('is a station error a caller can tell from a bug', () => {
    expect(new ApplicationIntegrityError(1, 'face')).toBeInstanceOf(StationError);
  });
});
