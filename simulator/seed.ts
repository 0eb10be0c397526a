/**
 * Builds the station side of a simulator scenario: which booklets the central office delivered
 * to us (signed manifests), which are allocated to the station, which are reported stolen.
 */
import { SIM_AGENCY, devTransportMaster, type Booklet, type HopperFile } from './hopper.ts';
import type { ScenarioSeed } from './scenario.ts';

export const SEED_STATION = 'LIM-AIR-01';
export const DEV_PIN = '246810';

/** How one hopper booklet appears on the station side. */
export interface LedgerEntry {
  booklet: Booklet;
  /** In one of our manifests (default: when the booklet's agency is ours). */
  inManifest?: boolean;
  /** The manifest lists the chip UID (default true). */
  listUid?: boolean;
  /** The manifest's chip UID when it differs from the chip's. */
  manifestChipUid?: string;
  /** The manifest's chip serial when it differs from the chip (a swapped chip). */
  manifestChipSerial?: string;
  stockClass?: 'production' | 'test';
  /** Allocated to this station (default), to another station, or not at all. */
  allocation?: 'here' | 'elsewhere' | 'none';
  lostOrStolen?: boolean;
  /** Manifest chip profile (default: the booklet's record profile). */
  manifestProfile?: string;
}

export const OUR_PROFILE = 'PER-MIG-EMRTD-V3';

export function baseSeed(): Omit<ScenarioSeed, 'manifests' | 'allocations' | 'lostOrStolen'> {
  return {
    station: {
      stationId: SEED_STATION,
      agencyCode: SIM_AGENCY,
      agencyName: 'Superintendencia Nacional de Migraciones',
      timeZone: 'America/Lima',
    },
    otherAgencies: [{ code: 'PER-RREE', name: 'Ministerio de Relaciones Exteriores' }],
    profiles: [
      {
        agencyCode: SIM_AGENCY,
        profileId: OUR_PROFILE,
        chipOs: 'ePassOS 4.2',
        appletVersion: '3.1.0',
        keyVersion: 1,
      },
    ],
    transportMasters: [
      {
        agency: SIM_AGENCY,
        keyVersion: 1,
        keyHex: devTransportMaster(SIM_AGENCY, 1).toString('hex'),
      },
    ],
    users: [
      { username: 'admin', role: 'admin', secret: DEV_PIN },
      { username: 'supervisor', role: 'supervisor', secret: DEV_PIN },
      { username: 'operator', role: 'operator', secret: DEV_PIN },
      { username: 'technician', role: 'technician', secret: DEV_PIN },
    ],
  };
}

/** The seed for a list of ledger entries: manifests per batch and class, allocations, reports. */
export function seedFor(entries: LedgerEntry[]): ScenarioSeed {
  const base = baseSeed();
  const manifests = new Map<string, ScenarioSeed['manifests'][number]>();
  const allocations = new Map<string, { batchId: string; serials: string[]; toStation?: string }>();
  const lostOrStolen: string[] = [];
  const profiles = new Set(base.profiles.map((p) => p.profileId));
  for (const e of entries) {
    const b = e.booklet;
    if (!(e.inManifest ?? b.agency === SIM_AGENCY)) continue;
    const serial = b.bookletSerial ?? b.printedSerial;
    const stockClass = e.stockClass ?? 'production';
    const profile = e.manifestProfile ?? b.profileId ?? b.chipProfile;
    if (!profiles.has(profile)) {
      profiles.add(profile);
      base.profiles.push({
        agencyCode: SIM_AGENCY,
        profileId: profile,
        chipOs: 'ePassOS 4.2',
        appletVersion: '3.1.0',
        keyVersion: b.keyVersion,
      });
    }
    const batchId = stockClass === 'test' ? `${b.batch}-T` : b.batch;
    const key = `${batchId}/${profile}`;
    let m = manifests.get(key);
    if (!m) {
      // A batch with booklets of two profiles: one manifest per profile, each its own batch id.
      const batchTaken = [...manifests.values()].some((x) => x.batchId === batchId);
      m = {
        batchId: batchTaken ? key.replace('/', '-') : batchId,
        agency: SIM_AGENCY,
        chipProfile: profile,
        stockClass,
        manufacturer: 'Simulated Booklet Works',
        createdAt: '2026-11-01T09:00:00-05:00',
        booklets: [],
      };
      manifests.set(key, m);
    }
    m.booklets.push({
      serial,
      chipSerial: e.manifestChipSerial ?? b.chipSerial,
      chipUid: (e.listUid ?? true) ? (e.manifestChipUid ?? b.chipUid) : null,
    });
    const alloc = e.allocation ?? 'here';
    if (alloc !== 'none') {
      const akey = `${m.batchId}/${alloc}`;
      const a = allocations.get(akey) ?? {
        batchId: m.batchId,
        serials: [],
        ...(alloc === 'elsewhere' ? { toStation: 'CUZ-BRANCH-02' } : {}),
      };
      a.serials.push(serial);
      allocations.set(akey, a);
    }
    if (e.lostOrStolen) lostOrStolen.push(serial);
  }
  return {
    ...base,
    manifests: [...manifests.values()],
    allocations: [...allocations.values()],
    lostOrStolen,
  };
}

/** The default seed of a hopper: every booklet of ours delivered and allocated here. */
export function seedForHopper(hopper: HopperFile): ScenarioSeed {
  return seedFor(hopper.booklets.map((booklet) => ({ booklet })));
}
