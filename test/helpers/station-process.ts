/**
 * The real `station` command in a child process (`node bin/station.mjs`), as a second user at
 * the same machine would run it: for tests about two processes on one data directory.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const stationBin = join(repoRoot, 'bin', 'station.mjs');

export interface StationProcess {
  child: ChildProcessWithoutNullStreams;
  readonly pid: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Resolves once stdout or stderr matches; rejects if the process exits first. */
  waitFor(re: RegExp): Promise<void>;
  /** Writes one line to its standard input. */
  send(line: string): void;
}

/**
 * Starts `station <args>`. Standard input stays open until `send('quit')` or the end of the
 * process; the process is killed after `killAfterMs` whatever happens.
 */
export function stationProcess(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; killAfterMs?: number; stdin?: string } = {},
): StationProcess {
  const child = spawn(process.execPath, [stationBin, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...opts.env },
  });
  let stdout = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  const poke = (): void => waiters.splice(0).forEach((w) => w());
  child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), poke()));
  child.stderr.on('data', (d: Buffer) => ((stderr += d.toString()), poke()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      resolve(code);
      poke();
    }),
  );
  const killer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 30_000);
  void exited.then(() => clearTimeout(killer));
  if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
  return {
    child,
    get pid() {
      return child.pid!;
    },
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    async waitFor(re: RegExp): Promise<void> {
      while (!re.test(stdout) && !re.test(stderr)) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`station ${args.join(' ')} exited before ${re}:\n${stdout}\n${stderr}`);
        await new Promise<void>((r) => waiters.push(r));
      }
    },
    send(line: string): void {
      child.stdin.write(`${line}\n`);
    },
  };
}

/** The message a refused second process prints, naming the holder's process id. */
export function lockedMessage(holderPid: number): RegExp {
  return new RegExp(
    `is in use by another station process: "station [a-z ]+" \\(process ${holderPid} on `,
  );
}
