/**
 * A development run of Electron that leaves the Node build alone (docs/desktop.md, "Native
 * modules"): `npm ci` builds better-sqlite3, serialport, node-hid and pkcs11js for Node, which
 * the tests and the CLI use. Electron needs them for its own ABI, so this copies those packages
 * into .electron-dev/node_modules and rebuilds the copies there with @electron/rebuild; the
 * bundles in .electron-dev/dist-electron resolve their native modules from that directory first.
 * node_modules itself is never rebuilt. Packaging does the same inside electron-builder.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureRendererBuild } from './renderer-build.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const devRoot = join(root, '.electron-dev');
/** Packages with native parts, and those that load them (they must resolve the rebuilt copy). */
export const NATIVE_PACKAGES = [
  'better-sqlite3',
  'serialport',
  '@serialport',
  'node-hid',
  'pkcs11js',
  'graphene-pk11',
];

export async function prepareElectronDev(out: (line: string) => void): Promise<{ main: string }> {
  const electronVersion = (
    JSON.parse(readFileSync(join(root, 'node_modules', 'electron', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  const stamp = join(devRoot, `.rebuilt-${electronVersion}`);
  if (!existsSync(stamp)) {
    out(
      `rebuilding native modules for Electron ${electronVersion} in .electron-dev (node_modules is left as it is)`,
    );
    rmSync(devRoot, { recursive: true, force: true });
    for (const p of NATIVE_PACKAGES)
      cpSync(join(root, 'node_modules', p), join(devRoot, 'node_modules', p), {
        recursive: true,
        dereference: true,
      });
    const { rebuild } = await import('@electron/rebuild');
    await rebuild({ buildPath: devRoot, electronVersion, force: true });
    mkdirSync(devRoot, { recursive: true });
    execFileSync('touch', [stamp]);
  }
  // The window loads renderer/dist: built when missing or stale (cli/renderer-build.ts).
  await ensureRendererBuild({ note: out });
  execFileSync(
    process.execPath,
    [join(root, 'scripts', 'build-electron.mjs'), '--out', join(devRoot, 'dist-electron')],
    {
      stdio: 'inherit',
    },
  );
  const rendererLink = join(devRoot, 'renderer');
  if (!existsSync(rendererLink)) symlinkSync(join(root, 'renderer'), rendererLink);
  return { main: join(devRoot, 'dist-electron', 'main.mjs') };
}
