import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { InputNotTextError, InputTooLargeError } from '../../contracts/bounded-read.ts';
import { readStrictJsonFile, StrictJsonError } from '../../contracts/strict-json.ts';
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

const envName = z.string().max(128).regex(ENV_NAME, 'must be an environment variable name');
/** Linux's PATH_MAX. */
const filePath = z.string().min(1).max(4096);

// Strict: a misspelt key is an error, not a setting silently ignored.
export const keyCustodyConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('pkcs11'),
    module: filePath,
    token: z.string().min(1).max(32),
    pinEnv: envName,
  }),
  z.strictObject({
    kind: z.literal('dev-file'),
    path: filePath,
    passphraseEnv: envName,
  }),
]);

/** The custody configuration file in the data directory. */
export const KEY_CUSTODY_CONFIG_FILE = 'key-custody.json';
/** A configuration is a few hundred bytes; the paths in it are at most 4096 characters each. */
export const KEY_CUSTODY_CONFIG_MAX_BYTES = 16 * 1024;

/** Reads `<dataDir>/key-custody.json`; undefined when the station has none yet. */
export function readKeyCustodyConfig(dataDir: string): KeyCustodyConfig | undefined {
  const path = join(dataDir, KEY_CUSTODY_CONFIG_FILE);
  let json: unknown;
  try {
    json = readStrictJsonFile(path, {
      maxBytes: KEY_CUSTODY_CONFIG_MAX_BYTES,
      what: `key custody configuration ${path}`,
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (e instanceof StrictJsonError)
      throw new KeyCustodyError('CONFIG_INVALID', `${path}: ${e.message}`);
    if (e instanceof InputTooLargeError || e instanceof InputNotTextError)
      throw new KeyCustodyError('CONFIG_INVALID', e.message);
    throw new KeyCustodyError('CONFIG_INVALID', `cannot read ${path}: ${(e as Error).message}`);
  }
  const parsed = keyCustodyConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const keys = issue?.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
    throw new KeyCustodyError(
      'CONFIG_INVALID',
      `${path}: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? 'is invalid'}${keys}`,
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
