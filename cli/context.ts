import type { Command } from 'commander';
import { resolveDataDir } from '../station/data-dir.ts';

/** What every subcommand may ask of the running CLI. */
export interface CliContext {
  /** The resolved data directory (global --data-dir, STATION_DATA_DIR, or the OS default). */
  dataDir(): string;
  /** Standard output and error, injectable for tests. */
  out: (line: string) => void;
  err: (line: string) => void;
  /** Sets the exit code the CLI returns once the command has finished (e.g. a failed verification). */
  setExitCode(code: number): void;
  exitCode(): number;
}

export function makeContext(
  program: Command,
  io?: Partial<Pick<CliContext, 'out' | 'err'>>,
): CliContext {
  let code = 0;
  return {
    setExitCode: (c) => {
      code = c;
    },
    exitCode: () => code,
    dataDir: () => resolveDataDir(program.opts<{ dataDir?: string }>().dataDir),
    out: io?.out ?? ((line) => process.stdout.write(line + '\n')),
    err: io?.err ?? ((line) => process.stderr.write(line + '\n')),
  };
}

/** Each file in cli/commands/ exports one of these; main.ts loads them all. */
export type RegisterCommands = (program: Command, ctx: CliContext) => void;
