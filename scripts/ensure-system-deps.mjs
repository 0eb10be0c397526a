#!/usr/bin/env node
// Installs the Debian packages the station needs when they are missing. Run by `npm test`
// before the suite (real serial pairs, a real PKCS#11 token, an independent verifier, a throwaway
// PostgreSQL cluster for the central office, the Chromium the UI tests drive), and for `npm
// start` (scripts/start.mjs calls ensureSystemDeps first, in its own process; or `--for start`):
// the simulator's virtual serial pair needs socat and the HID transport libusb, so the README's
// first command works on a fresh machine. `--dry-run` says what it would install and installs
// nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Quick looks that spare a process at every `npm start`: a program on PATH, a library in the
// usual directories. When one finds nothing, the probe decides.
const onPath = (program) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
const LIB_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/lib',
];
const libraryFound = (file) => LIB_DIRS.some((dir) => existsSync(join(dir, file)));

const needs = [
  { pkg: 'socat', present: () => onPath('socat'), probe: ['socat', '-V'] },
  { pkg: 'softhsm2', probe: ['softhsm2-util', '--version'] },
  { pkg: 'openssl', probe: ['openssl', 'version'] },
  {
    pkg: 'libusb-1.0-0',
    present: () => libraryFound('libusb-1.0.so.0'),
    probe: ['sh', '-c', 'ldconfig -p | grep -q libusb-1.0'],
  },
  { pkg: 'postgresql', probe: ['sh', '-c', 'ls /usr/lib/postgresql/*/bin/initdb'] },
  // The UI tests (test/ui-*.test.ts) drive Debian's Chromium through playwright-core.
  { pkg: 'chromium', probe: ['/usr/bin/chromium', '--version'] },
];

/**
 * Installs what is missing for `start` (socat, libusb) or the test setup (everything above);
 * returns the exit status: 0 when nothing is missing or it was installed (or, with `dryRun`,
 * said), 1 when it could not be installed (said on stderr).
 */
export function ensureSystemDeps({ forStart = false, dryRun = false } = {}) {
  const wanted = forStart ? needs.filter((n) => ['socat', 'libusb-1.0-0'].includes(n.pkg)) : needs;
  const purpose = forStart ? 'start' : 'test setup';
  const missing = wanted.filter(({ present, probe }) => {
    if (present?.()) return false;
    const r = spawnSync(probe[0], probe.slice(1), { stdio: 'ignore' });
    return r.error !== undefined || r.status !== 0;
  });
  if (missing.length === 0) return 0;
  const pkgs = missing.map((m) => m.pkg);
  if (dryRun) {
    console.log(`${purpose}: would install Debian packages: ${pkgs.join(' ')}`);
    return 0;
  }
  console.log(`${purpose}: installing Debian packages: ${pkgs.join(' ')}`);
  const sudo = process.getuid && process.getuid() !== 0 ? ['sudo'] : [];
  const run = (args) =>
    execFileSync(sudo[0] ?? args[0], sudo.length ? args : args.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  // Another install (a second test run, `npm start` beside `npm test`) may hold dpkg's lock:
  // wait for it rather than fail.
  const lockWait = ['-o', 'DPkg::Lock::Timeout=600'];
  try {
    run(['apt-get', ...lockWait, 'update', '-qq']);
    run(['apt-get', ...lockWait, 'install', '-y', '-qq', '--no-install-recommends', ...pkgs]);
  } catch (e) {
    console.error(`${purpose}: could not install ${pkgs.join(' ')}: ${e.message}`);
    return 1;
  }
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  process.exitCode = ensureSystemDeps({
    forStart: process.argv.includes('--for') && process.argv.includes('start'),
    dryRun: process.argv.includes('--dry-run'),
  });
