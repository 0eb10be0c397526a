import type { Command } from 'commander';
import { DEV_PASSPHRASE_ENV, seedStation, type SeedSpec } from '../../station/dev-seed.ts';
import { StationError } from '../../station/errors.ts';
import { isDevelopmentMode } from '../../station/keys/open.ts';
import { loadScenario, scenarioNames } from '../../simulator/index.ts';
import { seedForHopper } from '../../simulator/seed.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';

export function register(program: Command, ctx: CliContext): void {
  const dev = program
    .command('dev')
    .description('development helpers (need STATION_MODE=development)');
  dev
    .command('seed')
    .description(
      `prepare an empty data directory for a simulator scenario: identity, users, chip profiles, ` +
        `development transport keys (passphrase from ${DEV_PASSPHRASE_ENV}), signed manifests, allocation`,
    )
    .requiredOption('--scenario <name>', `one of: ${scenarioNames().join(', ')}`)
    .option('--json', 'machine-readable output')
    .action(async (opts: { scenario: string; json?: boolean }) => {
      let spec: SeedSpec;
      try {
        const scenario = await loadScenario(opts.scenario);
        spec = scenario.seed ? scenario.seed() : seedForHopper(scenario.hopper());
      } catch (e) {
        throw new CliError(e instanceof Error ? e.message : String(e));
      }
      // The lock creates the data directory: take it only once seedStation may write (it
      // refuses outside development mode or without the passphrase, leaving nothing behind).
      if (isDevelopmentMode() && process.env[DEV_PASSPHRASE_ENV]) ctx.lockStation();
      let r;
      try {
        r = await seedStation(ctx.dataDir(), spec);
      } catch (e) {
        if (e instanceof StationError) throw new CliError(e.message);
        throw e;
      }
      if (opts.json) return ctx.out(JSON.stringify({ scenario: opts.scenario, ...r }));
      ctx.out(`seeded ${r.dataDir} for scenario ${opts.scenario}`);
      ctx.out(
        `station ${r.stationId} of ${r.agency}: ${r.booklets} booklets received, ${r.allocated} allocated here, ${r.lostOrStolen} reported lost or stolen`,
      );
      ctx.out(
        `users: ${r.users.map((u) => `${u.username} (${u.role})`).join(', ')}; development PINs are in simulator/seed.ts`,
      );
      ctx.out(
        `next: npx station simulator --scenario ${opts.scenario}, then npx station intake --port <path> --user operator`,
      );
    });
}
