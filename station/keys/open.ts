import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { writeFileAtomically } from '../../db/private-files.ts';
import { preparePrivateDataDir } from '../data-dir.ts';
import type { TransportKeyCustody } from './custody.ts';
import { DevFileTransportKeyCustody } from './dev-key-file.ts';
import { KeyCustodyError } from './errors.ts';
import { Pkcs11TransportKeyCustody } from './pkcs11.ts';

/**
 * How the station reaches its transport master keys. Secrets are never part of the
 * configuration: it names the environment variable that holds them.
 */
export type KeyCustodyConfig =
  | {
      kind: 'pkcs11';
      /** Path of the PKCS#11 module. */
      module: string;
      /** Token label. */
      token: string;
      /** Environment variable holding the user PIN. */
      pinEnv: string;
    }
  | {
      kind: 'dev-file';
      /** Path of the development key file; relative paths are relative to the data directory. */
      path: string;
      /** Environment variable holding the passphrase. */
      passphraseEnv: string;
    };

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const keyCustodyConfigSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('pkcs11'),
    module: z.string().min(1),
    token: z.string().min(1).max(32),
    pinEnv: z.string().regex(ENV_NAME, 'must be an environment variable name'),
  }),
  z.object({
    kind: z.literal('dev-file'),
    path: z.string().min(1),
    passphraseEnv: z.string().regex(ENV_NAME, 'must be an environment variable name'),
  }),
]);

/** The custody configuration file in the data directory. */
export const KEY_CUSTODY_CONFIG_FILE = 'key-custody.json';

/** Reads `<dataDir>/key-custody.json`; undefined when the station has none yet. */
export function readKeyCustodyConfig(dataDir: string): KeyCustodyConfig | undefined {
  const path = join(dataDir, KEY_CUSTODY_CONFIG_FILE);
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KeyCustodyError('CONFIG_INVALID', `cannot read ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new KeyCustodyError('CONFIG_INVALID', `${path} is not valid JSON`);
  }
  const parsed = keyCustodyConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KeyCustodyError(
      'CONFIG_INVALID',
      `${path}: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? 'is invalid'}`,
    );
  }
  const config = parsed.data;
  if (config.kind === 'dev-file' && !isAbsolute(config.path)) {
    return { ...config, path: resolve(dataDir, config.path) };
  }
  return config;
}

/** Writes `<dataDir>/key-custody.json` (validated; atomically). */
export function writeKeyCustodyConfig(dataDir: string, config: KeyCustodyConfig): void {
  const parsed = keyCustodyConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KeyCustodyError(
      'CONFIG_INVALID',
      `key custody configuration: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? 'is invalid'}`,
    );
  }
  preparePrivateDataDir(dataDir);
  writeFileAtomically(
    join(dataDir, KEY_CUSTODY_CONFIG_FILE),
    JSON.stringify(parsed.data, null, 2) + '\n',
  );
}

export interface OpenCustodyOptions {
  /** Development mode. Default: `env.STATION_MODE === 'development'`. Only development mode
   * may open a development key file. */
  development?: boolean;
  /** Where secrets named by the configuration are looked up. Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** The PIN or passphrase itself, overriding the environment variable the configuration names. */
  secret?: string;
}

/** Whether the station runs in development mode according to `env`. */
export function isDevelopmentMode(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.STATION_MODE === 'development';
}

/**
 * Opens the configured transport-key custody. A development key file is refused unless the
 * station runs in development mode; the PIN or passphrase comes from `options.secret` or the
 * environment variable the configuration names, and never appears in an error.
 */
export async function openTransportKeyCustody(
  config: KeyCustodyConfig,
  options: OpenCustodyOptions = {},
): Promise<TransportKeyCustody> {
  const env = options.env ?? process.env;
  const parsed = keyCustodyConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KeyCustodyError(
      'CONFIG_INVALID',
      `key custody configuration: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? 'is invalid'}`,
    );
  }
  const secretFrom = (name: string, what: string): string => {
    const secret = options.secret ?? env[name];
    if (secret === undefined || secret === '') {
      throw new KeyCustodyError(
        'SECRET_MISSING',
        `the ${what} is missing: set the environment variable ${name}`,
      );
    }
    return secret;
  };
  if (config.kind === 'pkcs11') {
    const pin = secretFrom(config.pinEnv, `PIN of token '${config.token}'`);
    return Pkcs11TransportKeyCustody.open({ module: config.module, token: config.token, pin });
  }
  const development = options.development ?? isDevelopmentMode(env);
  if (!development) {
    throw new KeyCustodyError(
      'DEVELOPMENT_ONLY',
      `refusing the development key file ${config.path}: it is for development only, and this station is not in development mode (start it with STATION_MODE=development on a development machine, or configure a PKCS#11 token with 'station keys configure')`,
    );
  }
  const passphrase = secretFrom(config.passphraseEnv, 'passphrase of the development key file');
  return DevFileTransportKeyCustody.openUnchecked(config.path, passphrase);
}
