/**
 * The virtual null-modem cable (socat ptys): it goes when its owner stops it or dies, however it
 * dies, and says so when socat is missing.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createVirtualSerialPair } from './virtual-port.ts';

const ROOT = join(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'virtual-port-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Whether a socat process runs for the cable whose ends are in `dir`. */
function socatRunsFor(dir: string): boolean {
  try {
    return (
      execFileSync('pgrep', ['-f', `socat .*${dir}/device`], { encoding: 'utf8' }).trim() !== ''
    );
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
}

async function until(what: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (what()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return what();
}

describe('the virtual serial cable', () => {
  it('is unplugged, plugged again and closed by its owner', async () => {
    const dir = mkdtempSync(join(tmp, 'own-'));
    const pair = await createVirtualSerialPair({ dir });
    expect(socatRunsFor(dir)).toBe(true);
    await pair.unplug();
    expect(await until(() => !socatRunsFor(dir))).toBe(true);
    await pair.replug();
    expect(socatRunsFor(dir)).toBe(true);
    expect(existsSync(pair.stationPath)).toBe(true);
    await pair.close();
    expect(await until(() => !socatRunsFor(dir))).toBe(true);
  });

  it('goes with an owner killed by SIGKILL', async () => {
    const script = join(tmp, 'owner.mts');
    const url = pathToFileURL(join(ROOT, 'simulator/virtual-port.ts')).href;
    writeFileSync(
      script,
      `import { createVirtualSerialPair } from ${JSON.stringify(url)};\n` +
        `const p = await createVirtualSerialPair();\nconsole.log(p.devicePath);\n` +
        `setInterval(() => {}, 1000);\n`,
    );
    const child = spawn(process.execPath, [join(ROOT, 'bin/run-ts.mjs'), script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const device = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => resolve(d.toString().trim()));
        child.once('exit', (code) => reject(new Error(`owner exited with ${code}`)));
      });
      const dir = join(device, '..');
      expect(socatRunsFor(dir)).toBe(true);
      child.kill('SIGKILL');
      expect(await until(() => !socatRunsFor(dir))).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('says socat is missing when it is', async () => {
    const bin = mkdtempSync(join(tmp, 'bin-'));
    symlinkSync(
      execFileSync('sh', ['-c', 'command -v sh'], { encoding: 'utf8' }).trim(),
      join(bin, 'sh'),
    );
    const path = process.env.PATH;
    process.env.PATH = bin;
    try {
      await expect(
        createVirtualSerialPair({ dir: mkdtempSync(join(tmp, 'none-')) }),
      ).rejects.toThrow(
        'socat is not installed (apt-get install socat): it makes the virtual serial ports',
      );
    } finally {
      process.env.PATH = path;
    }
  });
});
