#!/usr/bin/env node
// Installs the Debian packages the station needs when they are missing. Run by `npm test`
// before the suite (real serial pairs, a real PKCS#11 token, an independent verifier, a throwaway
// PostgreSQL cluster for the central office, the Chromium the UI tests drive), and with
// `--for start` by `npm start` (prestart): the simulator's virtual serial pair needs socat and
// the HID transport libusb, so the README's first command works on a fresh machine.
// `--dry-run` says what it would install and installs nothing.
import { execFileSync, spawnSync } from 'node:child_process';

const needs = [
  { pkg: 'socat', probe: ['socat', '-V'] },
  { pkg: 'softhsm2', probe: ['softhsm2-util', '--version'] },
  { pkg: 'openssl', probe: ['openssl', 'version'] },
  { pkg: 'libusb-1.0-0', probe: ['sh', '-c', 'ldconfig -p | grep -q libusb-1.0'] },
  { pkg: 'postgresql', probe: ['sh', '-c', 'ls /usr/lib/postgresql/*/bin/initdb'] },
  // The UI tests (test/ui-*.test.ts) drive Debian's Chromium through playwright-core.
  { pkg: 'chromium', probe: ['/usr/bin/chromium', '--version'] },
];

const forStart = process.argv.includes('--for') && process.argv.includes('start');
const dryRun = process.argv.includes('--dry-run');
const wanted = forStart ? needs.filter((n) => ['socat', 'libusb-1.0-0'].includes(n.pkg)) : needs;
const purpose = forStart ? 'start' : 'test setup';

const missing = wanted.filter(({ probe }) => {
  const r = spawnSync(probe[0], probe.slice(1), { stdio: 'ignore' });
  return r.error !== undefined || r.status !== 0;
});

if (missing.length === 0) process.exit(0);
const pkgs = missing.map((m) => m.pkg);
if (dryRun) {
  console.log(`${purpose}: would install Debian packages: ${pkgs.join(' ')}`);
  process.exit(0);
}
console.log(`${purpose}: installing Debian packages: ${pkgs.join(' ')}`);
const sudo = process.getuid && process.getuid() !== 0 ? ['sudo'] : [];
const run = (args) =>
  execFileSync(sudo[0] ?? args[0], sudo.length ? args : args.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
// Another install (a second test run, `npm start` beside `npm test`) may hold dpkg's lock: wait
// for it rather than fail.
const lockWait = ['-o', 'DPkg::Lock::Timeout=600'];
try {
  run(['apt-get', ...lockWait, 'update', '-qq']);
  run(['apt-get', ...lockWait, 'install', '-y', '-qq', '--no-install-recommends', ...pkgs]);
} catch (e) {
  console.error(`${purpose}: could not install ${pkgs.join(' ')}: ${e.message}`);
  process.exit(1);
}
