/**
 * `station start` as a user runs it: the real CLI in a child process, the simulator on a socat
 * pair, a real SQLite database in a temporary data directory, commands on stdin.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveDeviceChoice } from '../drivers/open.ts';
import { loadScenario, startSimulator } from '../simulator/index.ts';
import { DEV_PIN } from '../simulator/seed.ts';
import { initStation, openStationDb } from '../station/identity.ts';
import { useTestAuditKey } from '../station/testing.ts';
import { runCli } from './helpers/cli.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stationBin = join(root, 'bin', 'station.mjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/station.mjs <args>` with the given stdin; kills it if it hangs. */
function station(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  // The command must work without any development settings in the environment.
  for (const k of ['STATION_MODE', 'STATION_DEV_KEYS_PASSPHRASE', 'STATION_DATA_DIR'])
    if (!opts.env || !(k in opts.env)) delete env[k];
  return new Promise<Run>((resolve, reject) => {
    const child = spawn(process.execPath, [stationBin, ...args], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`station ${args.join(' ')} did not exit:\n${stdout}\n${stderr}`));
    }, 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

/** A running `station` process driven line by line. */
function interactive(args: string[], env: Record<string, string>) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [stationBin, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  const poke = (): void => waiters.splice(0).forEach((w) => w());
  child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), poke()));
  child.stderr.on('data', (d: Buffer) => ((stderr += d.toString()), poke()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  void exited.then(() => clearTimeout(killer));
  return {
    child,
    exited,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    /** Resolves once stdout or stderr matches. */
    async waitFor(re: RegExp): Promise<void> {
      while (!re.test(stdout) && !re.test(stderr)) {
        if (child.exitCode !== null) throw new Error(`exited before ${re}:\n${stdout}\n${stderr}`);
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'station-start-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('station start with no device configured', () => {
  it('is refused outside development mode, naming how to ask for it, and creates nothing', async () => {
    const dataDir = join(tmp, 'not-dev');
    const r = await station(['--data-dir', dataDir, 'start'], { env: { STATION_PIN: DEV_PIN } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'station: no device is configured: connect the printer and choose it with "station device use --port <path>", or pass --port; ' +
        'to run the simulator demo instead, start in development mode with "station start --dev" (npm start does) or STATION_MODE=development\n',
    );
    expect(r.stdout).toBe('');
    expect(existsSync(dataDir)).toBe(false);
    // And a contradiction is refused, not resolved silently.
    const both = await station(['--data-dir', dataDir, 'start', '--dev'], {
      env: { STATION_PIN: DEV_PIN, STATION_MODE: 'production' },
    });
    expect(both.code).toBe(1);
    expect(both.stderr).toContain(
      '--dev asks for development mode, but STATION_MODE is "production"',
    );
    expect(existsSync(dataDir)).toBe(false);
  });

  // npm start opens the desktop app (test/desktop.test.ts); the console is `station start --dev`.
  it('station start --dev starts the simulator in development mode, said on screen, seeds a development station, logs in and runs the console', async () => {
    const dataDir = join(tmp, 'dev');
    const r = await station(['start', '--dev'], {
      stdin: 'intake 3\nstatus\nquit\n',
      env: { STATION_PIN: DEV_PIN, STATION_DATA_DIR: dataDir },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out.split('\n').slice(0, 2)).toEqual([
      '*** DEVELOPMENT MODE (--dev): simulated devices and development keys; never for production ***',
      'the development key file is protected by the fixed, public development passphrase (set STATION_DEV_KEYS_PASSPHRASE to choose one)',
    ]);
    expect(out).toMatch(/^no device configured: using the simulator on \/\S+/m);
    expect(out).toContain('this is a DEVELOPMENT station');
    expect(out).toMatch(/development users: .*operator \(operator\).*simulator\/seed\.ts/);
    expect(out).toContain(
      'station LIM-AIR-01 of PER-MIGRACIONES (Superintendencia Nacional de Migraciones)',
    );
    expect(out).toContain('user: operator (operator)');
    expect(out).toContain('stock on hand: 9 (received 0, allocated 9, in_process 0)');
    expect(out).toMatch(/^device: PersoSim .*serial SIM-0001 \(printer\+encoder\)/m);
    expect(out).toContain('device status: ready; booklet position: none');
    expect(out).toContain(`data directory: ${dataDir}`);
    // The PIN is never echoed.
    expect(out).not.toContain(DEV_PIN);

    // One line per booklet, the scenario's first three verdicts, in Spanish by default.
    const expected = (await loadScenario('foreign-loan')).expected!().slice(0, 3);
    const decisions = out
      .split('\n')
      .map((l) => /^(P[AR]\d{7}) (?:accepted \(job \d+\)|refused (\w+): (.*))$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => ({ printedSerial: m[1], decision: m[2] ?? 'accepted', text: m[3] }));
    expect(decisions.map(({ printedSerial, decision }) => ({ printedSerial, decision }))).toEqual(
      expected,
    );
    expect(decisions[1]!.text).toBe(
      'Esta libreta pertenece a otra entidad (PER-RREE). Apártela para su supervisor. No debe usarse aquí.',
    );
    expect(out).toContain('2 accepted, 1 refused');
    // status after intake: the refused foreign booklet never entered our stock; accepted ones are released.
    expect(out).toContain('this session: 2 accepted, 1 refused');
    expect(out).toContain('closing the station (2 accepted, 1 refused)');

    const db = openStationDb(dataDir);
    try {
      const jobs = db.prepare('SELECT status FROM intake_jobs ORDER BY id').all() as {
        status: string;
      }[];
      expect(jobs.map((j) => j.status)).toEqual(['released', 'refused', 'released']);
      const refusals = db.prepare('SELECT reason, printed_serial FROM refusals').all();
      expect(refusals).toEqual([{ reason: 'FOREIGN_AGENCY', printed_serial: 'PR0500001' }]);
    } finally {
      db.close();
    }
  });

  it('starts again on the seeded station without seeding, in English, and stops at end of input', async () => {
    const dataDir = join(tmp, 'dev');
    const r = await station(['--data-dir', dataDir, 'start', '--lang', 'en'], {
      stdin: 'intake 2\nreconcile\nlang xx\n',
      env: { STATION_PIN: DEV_PIN, STATION_MODE: 'development' },
    });
    expect(r.stdout).toContain(
      '*** DEVELOPMENT MODE (STATION_MODE=development): simulated devices and development keys; never for production ***',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('seeded');
    // A fresh simulator hopper: the same first booklets, decided the same way again.
    expect(r.stdout).toContain('PA0100001 accepted');
    expect(r.stdout).toContain(
      'PR0500001 refused FOREIGN_AGENCY: This booklet belongs to another agency (PER-RREE).',
    );
    expect(r.stdout).toMatch(/^reconciliation for \d{4}-\d\d-\d\d: BALANCED$/m);
    // Foreign booklets are refused without ever entering our stock.
    expect(r.stdout).toMatch(/received 9, .*refused 0, .*closing 9$/m);
    expect(r.stderr).toContain('lang: choose one of es, en');
    expect(r.stdout).toContain('closing the station (1 accepted, 1 refused)');
  });

  it('refuses a wrong PIN and still shuts everything down', async () => {
    const r = await station(['--data-dir', join(tmp, 'dev'), 'start', '--dev'], {
      env: { STATION_PIN: '000000' },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^station: .*(PIN|credentials|password|secret)/im);
    expect(r.stdout).not.toContain('type "help"');
  });
});

describe('station start never puts a real station on the simulator', () => {
  it('refuses an initialised station that is not a development station', async () => {
    const dataDir = join(tmp, 'production');
    useTestAuditKey(dataDir, 'LIM-AIR-07');
    const db = openStationDb(dataDir);
    try {
      initStation(db, {
        stationId: 'LIM-AIR-07',
        agencyCode: 'PER-MIGRACIONES',
        adminUsername: 'admin',
        adminSecret: 'a-strong-admin-pin',
        timeZone: 'America/Lima',
      });
    } finally {
      db.close();
    }
    const r = await station(['--data-dir', dataDir, 'start', '--dev']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'station: no device is configured for station LIM-AIR-07, which is not a development station',
    );
    expect(r.stdout).not.toContain('simulator');
  });

  it('refuses a database that was never initialised instead of seeding over it', async () => {
    const dataDir = join(tmp, 'half');
    openStationDb(dataDir).close();
    const r = await runCli(['--data-dir', dataDir, 'start']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('holds a station database that was never initialised');
    expect(existsSync(join(dataDir, 'key-custody.json'))).toBe(false);
  });
});

describe('station start with a device', () => {
  it('fails clearly when --port names no device', async () => {
    const dataDir = join(tmp, 'no-port');
    const r = await station(['--data-dir', dataDir, 'start', '--port', join(tmp, 'no-such-tty')], {
      env: { STATION_PIN: DEV_PIN },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`station: cannot use the device at ${join(tmp, 'no-such-tty')}`);
    expect(r.stdout).toBe('');
    expect(existsSync(join(dataDir, 'station.sqlite'))).toBe(false);
  });

  it('runs an initialised station on a real device, printing device events as they come', async () => {
    const sim = await startSimulator({ scenario: 'foreign-loan' });
    const dataDir = join(tmp, 'seeded-real');
    const env = {
      STATION_MODE: 'development',
      STATION_DEV_KEYS_PASSPHRASE: 'a passphrase of this test',
      STATION_PIN: DEV_PIN,
    };
    try {
      const seeded = await station(
        ['--data-dir', dataDir, 'dev', 'seed', '--scenario', 'foreign-loan'],
        {
          env,
        },
      );
      expect(seeded.code).toBe(0);
      const p = interactive(
        ['--data-dir', dataDir, 'start', '--port', sim.stationPath, '--user', 'supervisor'],
        env,
      );
      await p.waitFor(/type "help" for the commands/);
      expect(p.stdout).toContain('user: supervisor (supervisor)');
      expect(p.stdout).toContain(`via --port ${sim.stationPath}`);
      expect(p.stdout).not.toContain('simulator on');

      sim.inject('cover-open');
      await p.waitFor(/^device: la tapa de la impresora está abierta$/m);
      // Intake with the cover open stops with the device's reason; the console goes on.
      p.child.stdin.write('intake 1\n');
      await p.waitFor(/^intake: intake stopped at step \w+: .+$/m);
      sim.inject('cover-close');
      await p.waitFor(/^device: la tapa de la impresora está cerrada$/m);
      p.child.stdin.write('intake 1\n');
      await p.waitFor(/^PA0100001 accepted/m);
      // Ctrl-C closes the station cleanly.
      p.child.kill('SIGINT');
      expect(await p.exited).toBe(0);
      expect(p.stdout).toContain('closing the station (1 accepted, 0 refused)');
      expect(sim.outputTray.map((b) => b.booklet.printedSerial)).toEqual(['PA0100001']);
    } finally {
      await sim.close();
    }
  });

  it('never seeds an uninitialised station for a real device (--port or remembered)', async () => {
    const sim = await startSimulator({ scenario: 'foreign-loan' });
    try {
      const dataDir = join(tmp, 'real');
      const viaPort = await station(['--data-dir', dataDir, 'start', '--port', sim.stationPath], {
        env: { STATION_PIN: DEV_PIN },
      });
      expect(viaPort.code).toBe(1);
      expect(viaPort.stderr).toContain('holds no initialised station');
      expect(viaPort.stderr).toContain('"station init"');
      expect(viaPort.stdout).not.toContain('seeded');

      saveDeviceChoice(dataDir, {
        transport: 'serial',
        path: sim.stationPath,
        chosenAt: new Date().toISOString(),
      });
      const remembered = await station(['--data-dir', dataDir, 'start'], {
        env: { STATION_PIN: DEV_PIN },
      });
      expect(remembered.code).toBe(1);
      expect(remembered.stderr).toContain(`remembered serial device ${sim.stationPath}`);
      expect(remembered.stderr).toContain('"station init"');

      // Nothing was created and no booklet was touched.
      expect(existsSync(join(dataDir, 'station.sqlite'))).toBe(false);
      expect(existsSync(join(dataDir, 'key-custody.json'))).toBe(false);
      expect(sim.hopper).toHaveLength(14);
    } finally {
      await sim.close();
    }
  });
});
