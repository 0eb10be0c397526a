import type { Command } from 'commander';
import { resolveDataDir } from '../station/data-dir.ts';
import { safeForTerminal } from './terminal-text.ts';
import { acquireStationLock, type StationLock } from '../station/station-lock.ts';

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
  /**
   * Takes the data directory for this process (station/station-lock.ts), once; later calls
   * return the same lock. Every command that writes to the station, or opens a device, calls
   * it first, before opening anything: a second station process is refused there, with a
   * message naming the holder. Released when the command ends (or the process does).
   */
  lockStation(): StationLock;
  /** Names the running command for the lock's holder record (main.ts sets it). */
  setCommandName(name: string): void;
  /** Releases the lock if this command took it. */
  releaseStation(): void;
}

export function makeContext(
  program: Command,
  io?: Partial<Pick<CliContext, 'out' | 'err'>>,
): CliContext {
  let code = 0;
  const out = io?.out ?? ((line: string) => process.stdout.write(line + '\n'));
  const err = io?.err ?? ((line: string) => process.stderr.write(line + '\n'));
  let lock: StationLock | undefined;
  let commandName = 'station';
  const dataDir = (): string => resolveDataDir(program.opts<{ dataDir?: string }>().dataDir);
  return {
    setExitCode: (c) => {
      code = c;
    },
    exitCode: () => code,
    dataDir,
    lockStation: () => {
      if (!lock?.held) lock = acquireStationLock(dataDir(), { command: commandName });
      return lock;
    },
    setCommandName: (name) => {
      commandName = name;
    },
    releaseStation: () => {
      lock?.release();
      lock = undefined;
    },
    out: (line) => out(safeForTerminal(line)),
    err: (line) => err(safeForTerminal(line)),
  };
}

/** Each file in cli/commands/ exports one of these; main.ts loads them all. */
export type RegisterCommands = (program: Command, ctx: CliContext) => void;
