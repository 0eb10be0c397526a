import { generateKeyPairSync } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  InputNotTextError,
  InputTooLargeError,
  readBoundedFile,
} from '../../contracts/bounded-read.ts';
import { readStrictJsonFile, StrictJsonError } from '../../contracts/strict-json.ts';
import {
  APPLICATION_MAX_BYTES,
  ApplicationError,
  type ChipProfileOptions,
  HASH_ALGORITHMS,
  type HashAlgorithm,
  ImageError,
  buildLds,
  openSigner,
  parseApplication,
  passiveAuthentication,
  signLds,
} from '../../mrtd/index.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';

/** LDS file names as written to disk: `<name>.bin`. */
const LDS_FILE = /^(EF\.COM|EF\.SOD|EF\.CardAccess|DG(?:[1-9]|1[0-6]))\.bin$/;

/** Size limits of the files `lds` reads (checked before reading; the chip holds at most 96 KB). */
const LIMIT = {
  image: 1024 * 1024,
  certificate: 64 * 1024,
  mrz: 1024,
  ldsFile: 1024 * 1024,
} as const;

function readFile(path: string, what: string, maxBytes: number): Buffer {
  try {
    return readBoundedFile(path, maxBytes, `${what} ${path}`);
  } catch (e) {
    if (e instanceof InputTooLargeError) throw new CliError(e.message);
    throw new CliError(
      `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

interface BuildOptions {
  application: string;
  out: string;
  dsCert: string;
  dsKey: string;
  hash: string;
  pace?: boolean;
  chipAuthentication?: boolean;
  aa?: string;
  force?: boolean;
  json?: boolean;
}

/** What `lds build` writes: the LDS files and the chip's private keys. */
const LDS_OUTPUT_NAME = /^(?:EF\.[A-Za-z]+|DG\d{1,2})\.bin$|^(?:AA|CA)\.key$/;

export function register(program: Command, ctx: CliContext): void {
  const lds = program
    .command('lds')
    .description('build and verify the chip data (LDS and EF.SOD, ICAO 9303 Part 10)');

  lds
    .command('build')
    .description(
      'build every LDS file of an application and sign EF.SOD; writes EF.COM.bin, DG1.bin, ..., EF.SOD.bin',
    )
    .requiredOption('--application <file>', 'application JSON (images are relative to it)')
    .requiredOption('--out <dir>', 'new or empty directory for the files')
    .requiredOption('--ds-cert <crt>', 'Document Signer certificate (PEM or DER)')
    .requiredOption(
      '--ds-key <key>',
      'Document Signer key: PEM file, or PKCS#11 URI (pkcs11:token=..;object=..?module-path=..&pin-value=..)',
    )
    .option('--hash <alg>', `data group hash: ${HASH_ALGORITHMS.join(', ')}`, 'sha256')
    .option('--pace', 'chip profile uses PACE: write EF.CardAccess and DG14')
    .option(
      '--chip-authentication',
      'chip profile uses Chip Authentication: generate a P-256 key, write DG14 and CA.key',
    )
    .option(
      '--aa <type>',
      'Active Authentication key to generate: ecdsa-p256 or rsa-2048 (writes DG15 and AA.key)',
    )
    .option('--force', 'replace the contents of a non-empty output directory')
    .option('--json', 'machine-readable output')
    .action(async (opts: BuildOptions) => {
      if (!HASH_ALGORITHMS.includes(opts.hash as HashAlgorithm))
        throw new CliError(`--hash must be one of ${HASH_ALGORITHMS.join(', ')}, got ${opts.hash}`);
      if (opts.aa !== undefined && opts.aa !== 'ecdsa-p256' && opts.aa !== 'rsa-2048')
        throw new CliError(`--aa must be ecdsa-p256 or rsa-2048, got ${opts.aa}`);
      const appPath = resolve(opts.application);
      const app = (() => {
        try {
          return parseApplication(readApplicationJsonSync(appPath));
        } catch (e) {
          if (e instanceof ApplicationError) {
            for (const x of e.errors)
              ctx.err(
                `${x.field}: ${x.reason}${x.value !== '' ? ` (got ${JSON.stringify(x.value)})` : ''}`,
              );
            throw new CliError('the application is invalid; nothing was written');
          }
          throw e;
        }
      })();
      if (!app.faceImage) throw new CliError('faceImage: is required to build the LDS (DG2)');
      const base = dirname(appPath);
      const face = readFile(resolve(base, app.faceImage), 'faceImage', LIMIT.image);
      const signature = app.signatureImage
        ? readFile(resolve(base, app.signatureImage), 'signatureImage', LIMIT.image)
        : undefined;
      const dsCert = readFile(opts.dsCert, 'the DS certificate', LIMIT.certificate);
      const dsCertDer = dsCert.includes('-----BEGIN')
        ? Buffer.from(dsCert.toString('latin1').replace(/-----[^-]+-----|\s+/g, ''), 'base64')
        : dsCert;

      const secrets = new Map<string, string>();
      const profile: ChipProfileOptions = { pace: opts.pace };
      if (opts.chipAuthentication) {
        const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
        profile.chipAuthenticationPublicKey = ca.publicKey.export({ type: 'spki', format: 'der' });
        secrets.set('CA.key', ca.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      }
      if (opts.aa) {
        const aa =
          opts.aa === 'rsa-2048'
            ? generateKeyPairSync('rsa', { modulusLength: 2048 })
            : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
        profile.activeAuthenticationPublicKey = aa.publicKey.export({
          type: 'spki',
          format: 'der',
        });
        secrets.set('AA.key', aa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      }

      let built: ReturnType<typeof buildLds>;
      try {
        built = buildLds(app, { face, signature }, profile);
      } catch (e) {
        if (e instanceof ImageError || e instanceof RangeError) throw new CliError(e.message);
        throw e;
      }
      let signer: ReturnType<typeof openSigner>;
      try {
        signer = openSigner(opts.dsKey);
      } catch (e) {
        throw new CliError(`cannot open the Document Signer key: ${(e as Error).message}`);
      }
      try {
        await signLds(built, {
          signer,
          dsCertificate: dsCertDer,
          hash: opts.hash as HashAlgorithm,
        });
      } catch (e) {
        throw new CliError(`signing EF.SOD failed: ${(e as Error).message}`);
      } finally {
        signer.close();
      }

      // Write everything into a fresh sibling directory, then move it into place: a failure
      // leaves no half-written LDS behind.
      const out = resolve(opts.out);
      if (existsSync(out) && readdirSync(out).length > 0) {
        if (!opts.force)
          throw new CliError(
            `${out} is not empty; refusing to mix LDS files (use --force to replace it)`,
          );
        // --force replaces an earlier LDS only, never a directory holding anything else.
        const foreign = readdirSync(out).filter((n) => !LDS_OUTPUT_NAME.test(n));
        if (foreign.length > 0)
          throw new CliError(
            `${out} holds files that are not LDS output (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', ...' : ''}); --force replaces only an earlier LDS directory`,
          );
      }
      mkdirSync(dirname(out), { recursive: true });
      const tmp = mkdtempSync(join(dirname(out), `.${basename(out)}-`));
      try {
        for (const [name, bytes] of built.files) writeFileSync(join(tmp, `${name}.bin`), bytes);
        for (const [name, pem] of secrets) writeFileSync(join(tmp, name), pem, { mode: 0o600 });
        if (existsSync(out)) {
          if (opts.force) rmSync(out, { recursive: true, force: true });
          else rmdirSync(out);
        }
        renameSync(tmp, out);
      } catch (e) {
        rmSync(tmp, { recursive: true, force: true });
        throw new CliError(`cannot write ${out}: ${(e as Error).message}`);
      }
      const written = [...built.files].map(([name, b]) => ({
        file: `${name}.bin`,
        bytes: b.length,
      }));
      if (opts.json)
        ctx.out(
          JSON.stringify({ out, mrz: built.mrz, files: written, secrets: [...secrets.keys()] }),
        );
      else {
        for (const w of written) ctx.out(`${w.file.padEnd(18)} ${w.bytes} bytes`);
        for (const s of secrets.keys())
          ctx.out(`${s.padEnd(18)} private key for the chip (keep secret, mode 0600)`);
        ctx.out(`wrote ${out}`);
      }
    });

  lds
    .command('verify')
    .description(
      'passive authentication of an LDS directory: SOD signature, DS certificate, every hash, the mandatory files (EF.COM, DG1, DG2), DG1 against the printed MRZ',
    )
    .argument('<dir>', 'directory with EF.COM.bin, DG1.bin, ..., EF.SOD.bin')
    .requiredOption('--csca <crt>', 'trusted CSCA certificate (PEM or DER)')
    .option('--mrz <file>', 'the MRZ read from the printed page (two lines); must equal DG1')
    .option('--json', 'machine-readable report')
    .action(async (dir: string, opts: { csca: string; mrz?: string; json?: boolean }) => {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch (e) {
        throw new CliError(
          `cannot read ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
      const files = new Map<string, Uint8Array>();
      for (const n of names) {
        const m = LDS_FILE.exec(n);
        if (m) files.set(m[1]!, readFile(join(dir, n), 'LDS file', LIMIT.ldsFile));
      }
      if (files.size === 0)
        throw new CliError(`${dir} holds no LDS files (EF.COM.bin, DG1.bin, ..., EF.SOD.bin)`);
      const csca = readFile(opts.csca, 'the CSCA certificate', LIMIT.certificate);
      const report = await passiveAuthentication({
        files,
        cscas: [csca.includes('-----BEGIN') ? csca.toString('latin1') : csca],
        printedMrz: opts.mrz
          ? readFile(opts.mrz, 'the printed MRZ', LIMIT.mrz).toString('latin1')
          : undefined,
      });
      if (opts.json) ctx.out(JSON.stringify(report));
      else {
        for (const c of report.checks)
          ctx.out(`${c.ok ? 'ok  ' : 'FAIL'} ${c.id.padEnd(18)} ${c.detail}`);
        ctx.out(report.ok ? 'passive authentication: PASSED' : 'passive authentication: FAILED');
      }
      if (!report.ok) ctx.setExitCode(1);
    });
}

function readApplicationJsonSync(path: string): unknown {
  try {
    return readStrictJsonFile(path, {
      maxBytes: APPLICATION_MAX_BYTES,
      what: `the application ${path}`,
    });
  } catch (e) {
    if (e instanceof InputTooLargeError || e instanceof InputNotTextError)
      throw new CliError(e.message);
    if (e instanceof StrictJsonError)
      throw new CliError(`the application is not valid JSON: ${e.message}`);
    throw new CliError(
      `cannot read the application ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}
