/**
 * The development seed contract: what a simulator scenario asks of the station side, so that
 * `station dev seed --scenario <name>` prepares a ledger matching the scenario's booklets. The
 * simulator writes it, station/dev-seed.ts reads it; neither imports the other.
 */
export interface ScenarioSeed {
  station: { stationId: string; agencyCode: string; agencyName: string; timeZone: string };
  otherAgencies: { code: string; name: string }[];
  profiles: {
    agencyCode: string;
    profileId: string;
    chipOs: string;
    appletVersion: string;
    keyVersion: number;
  }[];
  transportMasters: { agency: string; keyVersion: number; keyHex: string }[];
  manifests: {
    batchId: string;
    agency: string;
    chipProfile: string;
    stockClass: 'production' | 'test';
    manufacturer: string;
    createdAt: string;
    booklets: { serial: string; chipSerial: string; chipUid: string | null }[];
  }[];
  allocations: { batchId: string; serials: string[]; toStation?: string }[];
  lostOrStolen: string[];
  users: {
    username: string;
    role: 'operator' | 'supervisor' | 'technician' | 'admin';
    secret: string;
  }[];
  /**
   * Approved applications to queue (docs/application-format.md, no document number); image
   * paths are names in the station's specimen image folder (assets/specimen: `face.jpg`,
   * `signature.jpg`).
   */
  applications?: Record<string, unknown>[];
}
