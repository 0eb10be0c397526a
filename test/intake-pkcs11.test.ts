/**
 * Intake with the transport master key held in a real PKCS#11 token (SoftHSM2): the station is
 * configured with key custody of kind pkcs11, the key never leaves the token, and the
 * `foreign-loan` hopper is decided exactly as with the development key file: our booklets
 * accepted, the forgery refused with TRANSPORT_AUTH_FAILED. A development key file is refused
 * outside development mode.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  intakeNextBooklet,
  releaseAccepted,
  type IntakeOutcome,
} from '../station/intake/intake.ts';
import { KeyCustodyError } from '../station/keys/errors.ts';
import { importTransportMasterKey, keyCheckValue } from '../station/keys/index.ts';
import { readKeyCustodyConfig, writeKeyCustodyConfig } from '../station/keys/open.ts';
import { openStationCustody } from '../station/keys/station-custody.ts';
import type { TransportKeyCustody } from '../station/keys/custody.ts';
import { lookupBooklet } from '../station/booklets.ts';
import {
  devTransportMaster,
  loadScenario,
  SIM_AGENCY,
  startSimulator,
} from '../simulator/index.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { runCli } from './helpers/cli.ts';
import { createSoftHsmToken, type SoftHsmToken } from './helpers/softhsm.ts';
import {
  connectStation,
  DEV_ENV,
  seedScenarioStation,
  type SeededStation,
} from './intake-support.ts';

const PIN_ENV = 'STATION_TEST_HSM_PIN';

let token: SoftHsmToken;
let station: SeededStation;
let devStation: SeededStation;

beforeAll(async () => {
  token = createSoftHsmToken('station-transport');
  Object.assign(process.env, DEV_ENV);
  station = await seedScenarioStation('foreign-loan');
  devStation = await seedScenarioStation('foreign-loan');
  // Provisioning: the agency's transport master key goes into the token, and the station is
  // pointed at the token instead of the development key file.
  const master = devTransportMaster(SIM_AGENCY, 1);
  const imported = await importTransportMasterKey(
    { module: token.module, token: token.label, pin: token.userPin },
    { agency: SIM_AGENCY, keyVersion: 1, key: master },
  );
  expect(imported.kcv).toBe(keyCheckValue(master));
  writeKeyCustodyConfig(station.dataDir, {
    kind: 'pkcs11',
    module: token.module,
    token: token.label,
    pinEnv: PIN_ENV,
  });
});

afterAll(() => {
  station?.cleanup();
  devStation?.cleanup();
  token?.cleanup();
});

describe('intake with the transport key in a PKCS#11 token', () => {
  it('decides the foreign-loan hopper as expected, the forgery by the token-derived key', async () => {
    // Production mode: no development key file could be used even if one were configured.
    const env = { ...process.env, STATION_MODE: 'production', [PIN_ENV]: token.userPin };
    expect(readKeyCustodyConfig(station.dataDir)).toMatchObject({ kind: 'pkcs11' });
    const custody: TransportKeyCustody = await openStationCustody(station.dataDir, env);
    const sim = await startSimulator({ scenario: 'foreign-loan' });
    const dev = await connectStation(sim.stationPath);
    const outcomes: IntakeOutcome[] = [];
    try {
      const opts = {
        db: station.db,
        actor: station.actor('operator'),
        custody,
        printer: dev.printer,
        encoder: dev.encoder,
      };
      while (sim.hopper.length > 0) {
        const o = await intakeNextBooklet(opts);
        if (o.decision === 'accepted') await releaseAccepted(opts, o);
        outcomes.push(o);
      }
    } finally {
      await dev.close();
      await sim.close();
      await custody.close();
    }
    const expected = (await loadScenario('foreign-loan')).expected!();
    expect(
      outcomes.map((o) => ({
        printedSerial: o.facts.printedSerial,
        decision: o.decision === 'accepted' ? 'accepted' : o.reason,
      })),
    ).toEqual(expected);
    const forgery = outcomes.find((o) => o.facts.printedSerial === 'PA0100003')!;
    expect(forgery).toMatchObject({ decision: 'refused', reason: 'TRANSPORT_AUTH_FAILED' });
    expect(lookupBooklet(station.db, 'PA0100003')!.state).toBe('refused');
    expect(outcomes.filter((o) => o.decision === 'accepted')).toHaveLength(5);
  });

  it('names the missing PIN without opening anything', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, STATION_MODE: 'production' };
    delete env[PIN_ENV];
    const e = await openStationCustody(station.dataDir, env).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(KeyCustodyError);
    expect((e as KeyCustodyError).code).toBe('SECRET_MISSING');
    expect((e as Error).message).toContain(PIN_ENV);
    expect((e as Error).message).not.toContain(token.userPin);
  });
});

describe('the development key file outside development mode', () => {
  it('is refused by the custody with a clear error', async () => {
    const env = { ...process.env, STATION_MODE: 'production' };
    const e = await openStationCustody(devStation.dataDir, env).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(KeyCustodyError);
    expect((e as KeyCustodyError).code).toBe('DEVELOPMENT_ONLY');
    expect((e as Error).message).toMatch(/development key file .* not in development mode/);
    expect((e as Error).message).not.toContain(DEV_ENV.STATION_DEV_KEYS_PASSPHRASE);
  });

  it('stops `station intake` before any device is opened', async () => {
    const saved = { ...process.env };
    try {
      delete process.env.STATION_MODE;
      process.env.STATION_PIN = DEV_PIN;
      const r = await runCli([
        '--data-dir',
        devStation.dataDir,
        'intake',
        '--port',
        '/nonexistent/port',
        '--user',
        'operator',
      ]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/development key file/);
      expect(r.stderr).toMatch(/not in development mode/);
      expect(r.stderr).not.toMatch(/nonexistent/);
      expect(r.stderr).not.toContain(DEV_ENV.STATION_DEV_KEYS_PASSPHRASE);
    } finally {
      process.env = saved;
    }
  });
});
