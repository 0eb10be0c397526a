/**
 * Development mode's devices for the station core (station/core/open.ts): the simulator and the
 * seed of its scenario. The station never imports the simulator; the composition roots (the
 * console here, the browser-mode bridge) hand it this.
 */
import { loadScenario, startSimulator } from '../simulator/index.ts';
import { baseSeed, seedForHopper } from '../simulator/seed.ts';
import type { DevelopmentDevices } from '../station/core/open.ts';

export const DEFAULT_SCENARIO = 'foreign-loan';

const seedUsers = baseSeed().users;
const seedUser = (role: string) => {
  const u = seedUsers.find((x) => x.role === role);
  if (!u) throw new Error(`the development seed has no ${role}`);
  return u;
};

export const developmentDevices: DevelopmentDevices = {
  defaultScenario: DEFAULT_SCENARIO,
  async seedFor(name) {
    const scenario = await loadScenario(name);
    return scenario.seed ? scenario.seed() : seedForHopper(scenario.hopper());
  },
  // The development seed's admin and its public development PIN (simulator/seed.ts).
  enroller: {
    admin: seedUser('admin').username,
    pin: seedUser('admin').secret,
    supervisor: seedUser('supervisor').username,
  },
  async start(scenario, log) {
    const sim = await startSimulator({ scenario, log });
    return {
      stationPath: sim.stationPath,
      booklets: sim.hopper.length,
      inject: (fault) => sim.inject(fault),
      close: () => sim.close(),
    };
  },
};
