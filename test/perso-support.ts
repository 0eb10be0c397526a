/**
 * Shared setup of the personalization tests: a station seeded for the `personalize` scenario
 * (production and TEST stock, queued applications, development Document Signers), its keys, and
 * a simulator with a chosen hopper on the real serial stack.
 */
import type { ApplicationDataKey } from '../station/keys/data-key.ts';
import { openStationDataKey } from '../station/applications/index.ts';
import type { TransportKeyCustody } from '../station/keys/custody.ts';
import { openStationCustody } from '../station/keys/station-custody.ts';
import { openStationSigner, type StationSigner } from '../station/personalization/signers.ts';
import type { PersonalizeOptions } from '../station/personalization/job.ts';
import { startSimulator, type Booklet, type RunningSimulator } from '../simulator/index.ts';
import { readMrz } from '../simulator/camera.ts';
import { printedRaster, type PrintedPage } from '../simulator/printed-page.ts';
import { BENCH_PERSO_SIZE } from '../simulator/scenarios/bench-perso.ts';
import { personalizationStock } from '../simulator/scenarios/personalize.ts';
import {
  connectStation,
  DEV_ENV,
  seedScenarioStation,
  type SeededStation,
  type StationLink,
} from './intake-support.ts';

export interface PersoStation {
  station: SeededStation;
  custody: TransportKeyCustody;
  dataKey: ApplicationDataKey;
  signer: StationSigner;
  testSigner: StationSigner;
  /** The scenario's booklets by printed serial. */
  booklet(serial: string): Booklet;
  close(): Promise<void>;
}

/**
 * A development station seeded from the `personalize` scenario (40 production booklets, 6 TEST
 * ones, 40 applications), or from `bench-perso` (1,100 of each, from PA5000001) for soaks.
 */
export async function seedPersoStation(
  scenario: 'personalize' | 'bench-perso' = 'personalize',
): Promise<PersoStation> {
  Object.assign(process.env, DEV_ENV);
  const station = await seedScenarioStation(scenario);
  const custody = await openStationCustody(station.dataDir);
  const dataKey = await openStationDataKey(station.dataDir, {
    development: true,
    env: process.env,
  });
  const signer = openStationSigner(station.dataDir, 'production');
  const testSigner = openStationSigner(station.dataDir, 'test');
  const all =
    scenario === 'personalize'
      ? personalizationStock(40, 6).booklets
      : personalizationStock(BENCH_PERSO_SIZE, 0, 5000001).booklets;
  return {
    station,
    custody,
    dataKey,
    signer,
    testSigner,
    booklet: (serial) => all.find((b) => b.printedSerial === serial)!,
    close: async () => {
      signer.close();
      testSigner.close();
      await custody.close();
      await dataKey.close();
      station.cleanup();
    },
  };
}

export interface PersoRig {
  sim: RunningSimulator;
  dev: StationLink;
  opts(user?: string): PersonalizeOptions;
  close(): Promise<void>;
}

/** A simulator holding `booklets`, and the station end of its serial port. */
export async function startRig(ps: PersoStation, booklets: Booklet[]): Promise<PersoRig> {
  const sim = await startSimulator({ hopper: { version: 1, booklets } });
  const dev = await connectStation(sim.stationPath);
  return {
    sim,
    dev,
    opts: (user = 'operator') => ({
      db: ps.station.db,
      actor: ps.station.actor(user),
      printer: dev.printer,
      encoder: dev.encoder,
      custody: ps.custody,
      dataKey: ps.dataKey,
      signer: ps.signer,
    }),
    close: async () => {
      await dev.close();
      await sim.close();
    },
  };
}

/** The MRZ of a page the simulated printer printed, read from its image by the camera. */
export function printedMrz(page: PrintedPage): string[] {
  return readMrz(printedRaster(page)).lines;
}
