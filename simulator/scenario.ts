import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimDevice } from './device.ts';
import type { HopperFile } from './hopper.ts';

export type { ScenarioSeed } from '../contracts/dev-seed.ts';
import type { ScenarioSeed } from '../contracts/dev-seed.ts';

/** A named simulator setup; one file per scenario in simulator/scenarios/ exporting `scenario`. */
export interface Scenario {
  name: string;
  description: string;
  /** The booklets in the input hopper. */
  hopper(): HopperFile;
  /** Default timing profile for this scenario. */
  profile?: string;
  /** The station side of the scenario (default: every booklet of ours received and allocated). */
  seed?(): ScenarioSeed;
  /** What intake should decide for each booklet, in hopper order (for tests and demos). */
  expected?(): { printedSerial: string; decision: string }[];
  /** Adjusts the device after it is built (initial ribbon level, faults...). */
  setup?(device: SimDevice): void;
}

const dir = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');

export function scenarioNames(): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

export async function loadScenario(name: string): Promise<Scenario> {
  const known = scenarioNames();
  if (!known.includes(name))
    throw new Error(`unknown simulator scenario "${name}" (known: ${known.join(', ')})`);
  // A template the bundlers can follow (npm start's bundle holds every scenario); `name` is one
  // of the files listed above.
  const mod = (await import(`./scenarios/${name}.ts`)) as {
    scenario?: Scenario;
  };
  if (!mod.scenario) throw new Error(`simulator/scenarios/${name}.ts exports no scenario`);
  return mod.scenario;
}
