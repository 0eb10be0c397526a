import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('paths')
    .description('show where this station keeps its data')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const dataDir = ctx.dataDir();
      if (opts.json) ctx.out(JSON.stringify({ dataDir }));
      else ctx.out(`data directory: ${dataDir}`);
    });
}
