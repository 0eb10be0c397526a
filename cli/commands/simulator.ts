import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import {
  FAULT_HELP,
  PROFILES,
  loadScenario,
  scenarioNames,
  startSimulator,
  type SimulatorOptions,
} from '../../simulator/index.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';

interface SimOpts {
  hopper?: string;
  profile?: string;
  scenario?: string;
  dir?: string;
  dump?: string;
  json?: boolean;
  list?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('simulator')
    .description(
      'run the simulated printer + encoder on a virtual serial port until stopped; type faults on stdin',
    )
    .option('--hopper <file>', 'hopper JSON file (docs/hopper-format.md)')
    .option('--profile <name>', `timing profile: ${Object.keys(PROFILES).join(', ')}`)
    .option('--scenario <name>', 'scenario in simulator/scenarios/ (default "default")')
    .option('--dir <dir>', 'directory for the virtual port links (default: a temporary one)')
    .option(
      '--dump <dir>',
      'write each booklet leaving the printer personalized or printed into <dir>/<serial>/: chip files (EF.COM.bin, DG1.bin, ..., EF.SOD.bin), page.png, mrz.txt',
    )
    .option('--json', 'print one JSON line with the station-side path')
    .option('--list', 'list scenarios, profiles and faults, then exit')
    .action(async (opts: SimOpts) => {
      if (opts.list) {
        for (const name of scenarioNames())
          ctx.out(`scenario ${name}: ${(await loadScenario(name)).description}`);
        for (const p of Object.values(PROFILES)) ctx.out(`profile ${p.name}: ${p.description}`);
        for (const f of FAULT_HELP) ctx.out(`fault ${f}`);
        return;
      }
      const simOpts: SimulatorOptions = { log: (l) => ctx.err(`simulator: ${l}`) };
      if (opts.hopper) simOpts.hopperFile = opts.hopper;
      if (opts.profile) simOpts.profile = opts.profile;
      if (opts.scenario) simOpts.scenario = opts.scenario;
      if (opts.dir) simOpts.dir = opts.dir;
      if (opts.dump) simOpts.dump = opts.dump;
      let sim;
      try {
        sim = await startSimulator(simOpts);
      } catch (e) {
        throw new CliError(e instanceof Error ? e.message : String(e));
      }
      if (opts.json)
        ctx.out(
          JSON.stringify({
            stationPath: sim.stationPath,
            profile: sim.profile.name,
            booklets: sim.hopper.length,
            ...(opts.dump ? { dump: opts.dump } : {}),
          }),
        );
      else {
        ctx.out(`simulator ready: station port ${sim.stationPath}`);
        ctx.out(`profile ${sim.profile.name}, ${sim.hopper.length} booklets in the hopper`);
        if (opts.dump) ctx.out(`dumping personalized and printed booklets into ${opts.dump}`);
        ctx.out(
          'type a fault (e.g. "jam", "cover-open", "corrupt-crc 2"; "help" lists them); Ctrl-C stops',
        );
      }
      await new Promise<void>((resolve) => {
        const rl = createInterface({ input: process.stdin, terminal: false });
        rl.on('line', (line) => {
          const t = line.trim();
          if (!t) return;
          if (t === 'help') {
            for (const f of FAULT_HELP) ctx.out(f);
            return;
          }
          try {
            ctx.out(sim.inject(t));
          } catch (e) {
            ctx.err(e instanceof Error ? e.message : String(e));
          }
        });
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          rl.close();
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await sim.close();
    });
}
