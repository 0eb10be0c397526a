/**
 * The simulator as its own process for the benches (`station simulator --scenario S --profile P
 * --json`), so the station's CPU figures hold the station alone.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface SimulatorProcess {
  /** The station-side end of its virtual serial port. */
  path: string;
  /** Types a line on its console (faults and their remedies, as a person would). */
  type: (line: string) => void;
  stop: () => Promise<void>;
}

/** Starts it; resolves once it has printed its port (its first line, JSON). */
export function startSimulatorProcess(opts: {
  scenario: string;
  profile?: string;
  env?: NodeJS.ProcessEnv;
}): Promise<SimulatorProcess> {
  const child = spawn(
    process.execPath,
    [
      join(root, 'bin/station.mjs'),
      'simulator',
      '--scenario',
      opts.scenario,
      '--profile',
      opts.profile ?? 'zero-latency',
      '--json',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      try {
        const { stationPath } = JSON.parse(out.slice(0, nl)) as { stationPath: string };
        resolve({ path: stationPath, type: (line) => child.stdin.write(`${line}\n`), stop });
      } catch (e) {
        reject(new Error(`simulator printed no JSON line: ${out.slice(0, nl)} (${String(e)})`));
      }
    });
    child.once('exit', (code) => reject(new Error(`simulator exited with ${code}: ${stderr}`)));
  });
}
