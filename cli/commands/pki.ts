import { createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { readBoundedFile } from '../../contracts/bounded-read.ts';
import { PRIVATE_DIR_MODE, writeFileAtomically } from '../../db/private-files.ts';
import { createTestPki, issueDocumentSigner, KEY_FILE_MAX_BYTES } from '../../mrtd/index.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';

const NOT_TEST =
  'only a test PKI can be made here (--test): production CSCA and Document Signer keys are generated in the HSM key ceremony';

/**
 * Writes a new file atomically with exactly `mode` (a private key 0600 even when --force
 * replaces a file that was 0644: the replacement is a new file); without force an existing
 * file is refused, atomically.
 */
function writeNew(path: string, content: string, mode: number, force: boolean): void {
  try {
    writeFileAtomically(path, content, { mode, exclusive: !force });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new CliError(`${path} exists; refusing to overwrite it (use --force)`);
    throw e;
  }
}

/** Reads a key or certificate file, refusing one over KEY_FILE_MAX_BYTES before reading it. */
function readKeyFile(path: string): Buffer {
  return readBoundedFile(path, KEY_FILE_MAX_BYTES, `key file ${path}`);
}

export function register(program: Command, ctx: CliContext): void {
  const pki = program
    .command('pki')
    .description('test CSCA and Document Signer certificates (ICAO 9303 Part 12)');

  pki
    .command('init')
    .description('create a test CSCA and Document Signer: csca.crt, csca.key, ds.crt, ds.key (PEM)')
    .requiredOption('--out <dir>', 'directory to write the certificates and keys to')
    .option('--test', 'make a TEST PKI (required)')
    .option('--country <cc>', 'ISO 3166-1 alpha-2 country code for the subjects', 'PE')
    .option('--organization <name>', 'organisation named in the subjects', 'Perso Station')
    .option('--force', 'overwrite existing files')
    .option('--json', 'machine-readable output')
    .action(
      async (opts: {
        out: string;
        test?: boolean;
        country: string;
        organization: string;
        force?: boolean;
        json?: boolean;
      }) => {
        if (!opts.test) throw new CliError(NOT_TEST);
        let result: Awaited<ReturnType<typeof createTestPki>>;
        try {
          result = await createTestPki({
            country: opts.country.toUpperCase(),
            organization: opts.organization,
          });
        } catch (e) {
          throw new CliError((e as Error).message);
        }
        mkdirSync(opts.out, { recursive: true, mode: PRIVATE_DIR_MODE });
        const files = {
          csca: join(opts.out, 'csca.crt'),
          cscaKey: join(opts.out, 'csca.key'),
          ds: join(opts.out, 'ds.crt'),
          dsKey: join(opts.out, 'ds.key'),
        };
        for (const f of Object.values(files))
          if (!opts.force && existsSync(f))
            throw new CliError(`${f} exists; refusing to overwrite it (use --force)`);
        writeNew(files.csca, result.csca.certificatePem, 0o644, true);
        writeNew(files.cscaKey, result.csca.privateKeyPem, 0o600, true);
        writeNew(files.ds, result.ds.certificatePem, 0o644, true);
        writeNew(files.dsKey, result.ds.privateKeyPem, 0o600, true);
        if (opts.json) ctx.out(JSON.stringify(files));
        else for (const f of Object.values(files)) ctx.out(`wrote ${f}`);
      },
    );

  pki
    .command('issue-ds')
    .description(
      'issue a test Document Signer certificate for a public key (e.g. one generated on a PKCS#11 token)',
    )
    .requiredOption('--csca-cert <crt>', 'test CSCA certificate (PEM)')
    .requiredOption('--csca-key <key>', 'test CSCA private key (PEM)')
    .requiredOption(
      '--public-key <pem>',
      'the Document Signer public key (PEM SubjectPublicKeyInfo)',
    )
    .requiredOption('--out <crt>', 'where to write the DS certificate (PEM)')
    .option('--test', 'issue from a TEST PKI (required)')
    .option('--country <cc>', 'ISO 3166-1 alpha-2 country code', 'PE')
    .option('--force', 'overwrite an existing file')
    .action(
      async (opts: {
        cscaCert: string;
        cscaKey: string;
        publicKey: string;
        out: string;
        test?: boolean;
        country: string;
        force?: boolean;
      }) => {
        if (!opts.test) throw new CliError(NOT_TEST);
        try {
          const csca = {
            certificatePem: readKeyFile(opts.cscaCert).toString('utf8'),
            privateKey: createPrivateKey(readKeyFile(opts.cscaKey)),
          };
          const spki = createPublicKey(readKeyFile(opts.publicKey)).export({
            type: 'spki',
            format: 'der',
          });
          const ds = await issueDocumentSigner(csca, spki, { country: opts.country.toUpperCase() });
          writeNew(opts.out, ds.certificatePem, 0o644, opts.force ?? false);
          ctx.out(`wrote ${opts.out}`);
        } catch (e) {
          if (e instanceof CliError) throw e;
          throw new CliError(`cannot issue the DS certificate: ${(e as Error).message}`);
        }
      },
    );
}
