import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export interface SoftHsmToken {
  /** Path of the PKCS#11 module to load. */
  module: string;
  /** The SOFTHSM2_CONF file; set it in process.env before loading the module. */
  conf: string;
  label: string;
  userPin: string;
  soPin: string;
  /** Removes the token directory. */
  cleanup(): void;
}

/**
 * Creates a fresh SoftHSM2 token in its own temporary directory and points SOFTHSM2_CONF at it
 * (the module reads the variable when it is initialised, so call this before C_Initialize).
 */
export function createSoftHsmToken(
  label = 'perso-test',
  userPin = '1234',
  soPin = '5678',
): SoftHsmToken {
  const dir = mkdtempSync(join(tmpdir(), 'softhsm-'));
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(
    conf,
    `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', label, '--pin', userPin, '--so-pin', soPin],
    {
      env,
      stdio: 'pipe',
    },
  );
  process.env.SOFTHSM2_CONF = conf;
  return {
    module: SOFTHSM_MODULE,
    conf,
    label,
    userPin,
    soPin,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
