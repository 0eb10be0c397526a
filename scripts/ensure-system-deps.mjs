#!/usr/bin/env node
// Installs the Debian packages the test suite needs (real serial pairs, a real PKCS#11 token,
// an independent verifier, the browser the UI tests drive) when they are missing. Run by `npm test` before the suite.
import { execFileSync, spawnSync } from 'node:child_process';

const needs = [
  { pkg: 'socat', probe: ['socat', '-V'] },
  { pkg: 'softhsm2', probe: ['softhsm2-util', '--version'] },
  { pkg: 'openssl', probe: ['openssl', 'version'] },
  { pkg: 'libusb-1.0-0', probe: ['sh', '-c', 'ldconfig -p | grep -q libusb-1.0'] },
  // The UI tests (test/ui-*.test.ts) drive Debian's Chromium through playwright-core.
  { pkg: 'chromium', probe: ['/usr/bin/chromium', '--version'] },
];

const missing = needs.filter(({ probe }) => {
  const r = spawnSync(probe[0], probe.slice(1), { stdio: 'ignore' });
  return r.error !== undefined || r.status !== 0;
});

if (missing.length === 0) process.exit(0);
const pkgs = missing.map((m) => m.pkg);
console.log(`test setup: installing Debian packages: ${pkgs.join(' ')}`);
const sudo = process.getuid && process.getuid() !== 0 ? ['sudo'] : [];
const run = (args) =>
  execFileSync(sudo[0] ?? args[0], sudo.length ? args : args.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
try {
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...pkgs]);
} catch (e) {
  console.error(`test setup: could not install ${pkgs.join(' ')}: ${e.message}`);
  process.exit(1);
}
