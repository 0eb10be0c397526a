/**
 * One central office at a time on a data directory (central/start.ts, contracts/dir-lock.ts): its
 * embedded PGlite takes one process, and `central-url` names one office. A second `central
 * start` on the directory, in another process or in this one, is refused naming the holder and
 * touches nothing; the directory is free again once the holder closes or is killed (SIGKILL).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CentralLockedError, URL_FILE, startCentral } from '../central/start.ts';

const BIN = join(import.meta.dirname, '../bin/central.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'central-lock-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

/** `central start` in its own process; resolves once it has written its address. */
async function startProcess(dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 600 && !/listening on/.test(out); i++) {
    if (child.exitCode !== null) throw new Error(`central start ended: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!/listening on/.test(out)) throw new Error(`central start did not listen: ${out}`);
  return child;
}

describe('a central office data directory', () => {
  it('is refused to a second office in another process, naming the holder', async () => {
    const dir = join(tmp, 'a');
    const office = await startCentral({ dataDir: dir });
    try {
      const url = readFileSync(join(dir, URL_FILE), 'utf8');
      const second = spawnSync(process.execPath, [BIN, 'start', '--data-dir', dir], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(second.status).toBe(1);
      expect(second.stderr).toMatch(
        new RegExp(
          `in use by another central office: "central start \\(port any\\)" \\(process ${process.pid} `,
        ),
      );
      // The running office's address is still its own, and it still answers.
      expect(readFileSync(join(dir, URL_FILE), 'utf8')).toBe(url);
      const stations = await fetch(`${office.url}/admin/stations`, {
        headers: { authorization: `Bearer ${office.adminToken}` },
      });
      expect(stations.status).toBe(200);
    } finally {
      await office.close();
    }
  });

  it('is refused to a second office in the same process, and free once the first closes', async () => {
    const dir = join(tmp, 'b');
    const office = await startCentral({ dataDir: dir });
    await expect(startCentral({ dataDir: dir })).rejects.toThrow(CentralLockedError);
    expect(existsSync(join(dir, URL_FILE))).toBe(true);
    await office.close();
    const again = await startCentral({ dataDir: dir });
    await again.close();
  });

  it('is free again after its office is killed', async () => {
    const dir = join(tmp, 'c');
    const child = await startProcess(dir);
    await expect(startCentral({ dataDir: dir })).rejects.toThrow(
      new RegExp(`process ${child.pid} `),
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const office = await startCentral({ dataDir: dir });
    await office.close();
  });
});
