import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { openStationDb } from '../../station/identity.ts';
import {
  addPinPepperToDevKeyFile,
  addToDevKeyFile,
  checkAgency,
  checkKeyVersion,
  createDevKeyFile,
  createPinPepperKey,
  importTransportMasterKey,
  isDevelopmentMode,
  KeyCustodyError,
  openStationPinPepper,
  openTransportKeyCustody,
  PIN_PEPPER_LABEL,
  readKeyCustodyConfig,
  writeKeyCustodyConfig,
  type KeyCustodyConfig,
  type TransportKeyInfo,
} from '../../station/keys/index.ts';
import { pepperStoredPins, usePinPepper } from '../../station/users.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { registerDataKeyCommand } from './applications.ts';
import { login } from './users.ts';

// Secrets (PINs, passphrases, key bytes) come only from environment variables or stdin, never
// from argv (visible in `ps`), and never appear in output or error messages.

interface Pkcs11Opts {
  pkcs11Module?: string;
  token?: string;
  pinEnv?: string;
}

interface KeySourceOpts {
  keyHexEnv?: string;
  keyStdin?: boolean;
  generate?: boolean;
}

/** Runs an action, turning key-custody errors into user errors. */
function action<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (e) {
      if (e instanceof KeyCustodyError) throw new CliError(e.message);
      throw e;
    }
  };
}

/**
 * The development key file holds master keys under a passphrase, in software: its commands
 * (which decrypt every key in the file) run only in development mode, like its custody.
 */
function requireDevelopmentMode(command: string): void {
  if (!isDevelopmentMode())
    throw new CliError(
      `${command} is for development only, and this station is not in development mode ` +
        "(set STATION_MODE=development on a development machine; production keys go into a PKCS#11 token with 'station keys import')",
    );
}

function parseKeyVersion(value: string): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  try {
    checkKeyVersion(n);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return n;
}

function envSecret(name: string, what: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new CliError(`${JSON.stringify(name)} is not an environment variable name (${what})`);
  }
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new CliError(`the environment variable ${name} (${what}) is not set`);
  }
  return value;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

function parseKeyHex(text: string, source: string): Buffer {
  const hex = text.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{32}|[0-9a-fA-F]{48}|[0-9a-fA-F]{64})$/.test(hex)) {
    throw new CliError(
      `the master key from ${source} must be 32, 48 or 64 hexadecimal digits (an AES-128, -192 or -256 key)`,
    );
  }
  return Buffer.from(hex, 'hex');
}

async function masterKeyFrom(opts: KeySourceOpts, allowGenerate: boolean): Promise<Buffer> {
  const sources = [opts.keyHexEnv !== undefined, opts.keyStdin === true, opts.generate === true];
  const count = sources.filter(Boolean).length;
  const choices = allowGenerate
    ? '--key-hex-env <VAR>, --key-stdin or --generate'
    : '--key-hex-env <VAR> or --key-stdin';
  if (count !== 1) throw new CliError(`give exactly one of ${choices}`);
  if (opts.generate) return randomBytes(16);
  if (opts.keyStdin) return parseKeyHex(await readStdin(), 'stdin');
  const name = opts.keyHexEnv!;
  return parseKeyHex(envSecret(name, 'the master key in hex'), `environment variable ${name}`);
}

/** The PKCS#11 target from the options, falling back to the configured custody. */
function pkcs11Target(
  opts: Pkcs11Opts,
  ctx: CliContext,
): { module: string; token: string; pin: string } {
  const given = [opts.pkcs11Module, opts.token, opts.pinEnv].filter((v) => v !== undefined).length;
  if (given === 3) {
    return {
      module: resolve(opts.pkcs11Module!),
      token: opts.token!,
      pin: envSecret(opts.pinEnv!, `PIN of token '${opts.token!}'`),
    };
  }
  if (given > 0) throw new CliError('give all of --pkcs11-module, --token and --pin-env, or none');
  const config = readKeyCustodyConfig(ctx.dataDir());
  if (config?.kind !== 'pkcs11') {
    throw new CliError(
      "no PKCS#11 token configured: give --pkcs11-module, --token and --pin-env, or run 'station keys configure --pkcs11-module ...'",
    );
  }
  return {
    module: config.module,
    token: config.token,
    pin: envSecret(config.pinEnv, `PIN of token '${config.token}'`),
  };
}

function printInfos(
  ctx: CliContext,
  where: string,
  kind: string,
  infos: TransportKeyInfo[],
  json?: boolean,
): void {
  if (json) {
    ctx.out(JSON.stringify({ custody: kind, where, keys: infos }));
    return;
  }
  ctx.out(`${kind} custody: ${where}`);
  if (infos.length === 0) ctx.out('no transport master keys');
  for (const i of infos) {
    ctx.out(
      `${i.label}  agency ${i.agency}  key version ${i.keyVersion}  check value ${i.kcv ?? '-'}`,
    );
  }
}

function devEntryOptions(cmd: Command, allowGenerate: boolean): Command {
  cmd
    .requiredOption('--file <path>', 'the development key file')
    .requiredOption('--passphrase-env <VAR>', 'environment variable holding the file passphrase')
    .requiredOption('--agency <code>', 'agency code, e.g. MIGRACIONES')
    .requiredOption('--key-version <n>', 'key version (1-255)', parseKeyVersion)
    .option('--key-hex-env <VAR>', 'environment variable holding the master key in hex')
    .option('--key-stdin', 'read the master key in hex from standard input');
  if (allowGenerate) cmd.option('--generate', 'generate a random AES-128 master key');
  return cmd.option('--json', 'machine-readable output');
}

interface DevEntryOpts extends KeySourceOpts {
  file: string;
  passphraseEnv: string;
  agency: string;
  keyVersion: number;
  json?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  const keys = program
    .command('keys')
    .description('transport-key custody: import, list and configure agency master keys');
  registerDataKeyCommand(keys, ctx);

  keys
    .command('import')
    .description('import an agency transport master key into a PKCS#11 token (non-extractable)')
    .option('--pkcs11-module <path>', 'PKCS#11 module (default: the configured custody)')
    .option('--token <label>', 'token label (default: the configured custody)')
    .option('--pin-env <VAR>', 'environment variable holding the user PIN')
    .requiredOption('--agency <code>', 'agency code, e.g. MIGRACIONES')
    .requiredOption('--key-version <n>', 'key version (1-255)', parseKeyVersion)
    .option('--key-hex-env <VAR>', 'environment variable holding the master key in hex')
    .option('--key-stdin', 'read the master key in hex from standard input')
    .option('--json', 'machine-readable output')
    .action(
      action(
        async (
          opts: Pkcs11Opts & KeySourceOpts & { agency: string; keyVersion: number; json?: boolean },
        ) => {
          ctx.lockStation();
          checkAgency(opts.agency);
          const target = pkcs11Target(opts, ctx);
          const key = await masterKeyFrom(opts, false);
          try {
            const imported = await importTransportMasterKey(target, {
              agency: opts.agency,
              keyVersion: opts.keyVersion,
              key,
            });
            if (opts.json) ctx.out(JSON.stringify({ ...imported, token: target.token }));
            else
              ctx.out(
                `imported ${imported.label} into token '${target.token}' (key check value ${imported.kcv})`,
              );
          } finally {
            key.fill(0);
          }
        },
      ),
    );

  keys
    .command('list')
    .description(
      'list the transport master keys in custody (labels, agencies, versions; never key bytes)',
    )
    .option('--pkcs11-module <path>', 'PKCS#11 module (default: the configured custody)')
    .option('--token <label>', 'token label')
    .option('--pin-env <VAR>', 'environment variable holding the user PIN')
    .option('--json', 'machine-readable output')
    .action(
      action(async (opts: Pkcs11Opts & { json?: boolean }) => {
        let config: KeyCustodyConfig | undefined;
        if (
          opts.pkcs11Module !== undefined ||
          opts.token !== undefined ||
          opts.pinEnv !== undefined
        ) {
          if (!opts.pkcs11Module || !opts.token || !opts.pinEnv) {
            throw new CliError('give all of --pkcs11-module, --token and --pin-env, or none');
          }
          config = {
            kind: 'pkcs11',
            module: resolve(opts.pkcs11Module),
            token: opts.token,
            pinEnv: opts.pinEnv,
          };
        } else {
          config = readKeyCustodyConfig(ctx.dataDir());
          if (!config) {
            throw new CliError(
              "no key custody configured: run 'station keys configure' or give --pkcs11-module, --token and --pin-env",
            );
          }
        }
        const custody = await openTransportKeyCustody(config);
        try {
          const where =
            config.kind === 'pkcs11' ? `token '${config.token}' (${config.module})` : config.path;
          printInfos(ctx, where, config.kind, await custody.list(), opts.json);
        } finally {
          await custody.close();
        }
      }),
    );

  keys
    .command('configure')
    .description('record in the data directory which key custody this station uses')
    .option('--pkcs11-module <path>', 'PKCS#11 module')
    .option('--token <label>', 'token label')
    .option('--pin-env <VAR>', 'environment variable that will hold the user PIN')
    .option('--dev-file <path>', 'development key file (development mode only)')
    .option('--passphrase-env <VAR>', 'environment variable that will hold the dev file passphrase')
    .option('--json', 'machine-readable output')
    .action(
      action(
        async (opts: Pkcs11Opts & { devFile?: string; passphraseEnv?: string; json?: boolean }) => {
          const pkcs11 =
            opts.pkcs11Module !== undefined ||
            opts.token !== undefined ||
            opts.pinEnv !== undefined;
          const dev = opts.devFile !== undefined || opts.passphraseEnv !== undefined;
          let config: KeyCustodyConfig;
          if (pkcs11 && !dev && opts.pkcs11Module && opts.token && opts.pinEnv) {
            config = {
              kind: 'pkcs11',
              module: resolve(opts.pkcs11Module),
              token: opts.token,
              pinEnv: opts.pinEnv,
            };
          } else if (dev && !pkcs11 && opts.devFile && opts.passphraseEnv) {
            requireDevelopmentMode('station keys configure --dev-file');
            config = {
              kind: 'dev-file',
              path: resolve(opts.devFile),
              passphraseEnv: opts.passphraseEnv,
            };
          } else {
            throw new CliError(
              'give either --pkcs11-module, --token and --pin-env, or --dev-file and --passphrase-env',
            );
          }
          ctx.lockStation();
          writeKeyCustodyConfig(ctx.dataDir(), config);
          if (opts.json) ctx.out(JSON.stringify(config));
          else
            ctx.out(
              config.kind === 'pkcs11'
                ? `key custody: token '${config.token}' in ${config.module}, PIN from $${config.pinEnv}`
                : `key custody: development key file ${config.path}, passphrase from $${config.passphraseEnv} (development mode only)`,
            );
        },
      ),
    );

  const devFile = keys
    .command('dev-file')
    .description('the encrypted development key file (development and simulator use only)');

  const writers = [
    ['create', 'create a development key file holding one master key', createDevKeyFile],
    ['add', 'add a master key to an existing development key file', addToDevKeyFile],
  ] as const;
  for (const [name, description, write] of writers)
    devEntryOptions(devFile.command(name).description(description), true).action(
      action(async (opts: DevEntryOpts) => {
        requireDevelopmentMode(`station keys dev-file ${name}`);
        checkAgency(opts.agency);
        const passphrase = envSecret(opts.passphraseEnv, 'passphrase of the development key file');
        const key = await masterKeyFrom(opts, true);
        try {
          const infos = await write(resolve(opts.file), passphrase, [
            { agency: opts.agency, keyVersion: opts.keyVersion, key },
          ]);
          printInfos(ctx, resolve(opts.file), 'dev-file', infos, opts.json);
        } finally {
          key.fill(0);
        }
      }),
    );

  const pepper = keys
    .command('pin-pepper')
    .description(
      `the station's PIN pepper (${PIN_PEPPER_LABEL}): a key in custody without which the database cannot check a PIN`,
    );

  pepper
    .command('create')
    .description(
      'create the PIN pepper key in the configured custody (in the token, never extractable; in development, in the key file)',
    )
    .action(
      action(async () => {
        const config = readKeyCustodyConfig(ctx.dataDir());
        if (!config)
          throw new CliError(
            "no key custody configured: run 'station keys configure' first (the pepper lives in that custody)",
          );
        if (config.kind === 'pkcs11') {
          createPinPepperKey({
            module: config.module,
            token: config.token,
            pin: envSecret(config.pinEnv, `PIN of token '${config.token}'`),
          });
          ctx.out(
            `created ${PIN_PEPPER_LABEL} in token '${config.token}' (AES-256, never extractable)`,
          );
        } else {
          requireDevelopmentMode('station keys pin-pepper create on a development key file');
          await addPinPepperToDevKeyFile(
            config.path,
            envSecret(config.passphraseEnv, 'passphrase of the development key file'),
          );
          ctx.out(`added ${PIN_PEPPER_LABEL} to the development key file ${config.path}`);
        }
        ctx.out(
          "now protect the stored PINs with it: 'station keys pin-pepper apply --user <admin>'",
        );
      }),
    );

  pepper
    .command('apply')
    .description(
      "protect every stored PIN hash with the custody's PIN pepper (admin); users keep their PINs, and from then on signing in needs the custody",
    )
    .option('--user <name>', 'the admin doing it (PIN from STATION_PIN or a prompt)')
    .option('--json', 'machine-readable output')
    .action(
      action(async (opts: { user?: string; json?: boolean }) => {
        const db = openStationDb(ctx.dataDir());
        try {
          const open = await openStationPinPepper(ctx.dataDir());
          try {
            usePinPepper(db, open.pepper);
            const admin = await login(
              db,
              opts.user,
              ['admin'],
              'protect the stored PINs with the key custody',
            );
            const n = pepperStoredPins(db, admin);
            ctx.out(
              opts.json
                ? JSON.stringify({ key: PIN_PEPPER_LABEL, users: n })
                : `protected ${n} stored PIN hash${n === 1 ? '' : 'es'} with ${PIN_PEPPER_LABEL}; signing in now needs the key custody`,
            );
          } finally {
            await open.close();
          }
        } finally {
          db.close();
        }
      }),
    );
}
