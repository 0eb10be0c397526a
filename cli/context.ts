import type { Command } from 'commander';
import { resolveDataDir } from '../station/data-dir.ts';
import { safeForTerminal } from './terminal-text.ts';

/** What every subcommand may ask of the running CLI. */
export interface CliContext {
  /** The resolved data directory (global --data-dir, STATION_DATA_DIR, or the OS default). */
  dataDir(): string;
  /**
   * Standard output and error, injectable for tests. Every line goes through safeForTerminal:
   * control and bidi characters from files or devices are escaped, never sent raw.
   */
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
  const out = io?.out ?? ((line: string) => process.stdout.write(line + '\n'));
  const err = io?.err ?? ((line: string) => process.stderr.write(line + '\n'));
  return {
    setExitCode: (c) => {
      code = c;
    },
    exitCode: () => code,
    dataDir: () => resolveDataDir(program.opts<{ dataDir?: string }>().dataDir),
    out: (line) => out(safeForTerminal(line)),
    err: (line) => err(safeForTerminal(line)),
  };
}

/** Each file in cli/commands/ exports one of these; main.ts loads them all. */
export type RegisterCommands = (program: Command, ctx: CliContext) => void;
