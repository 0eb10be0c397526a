import type { Command } from 'commander';
import {
  InputNotTextError,
  InputTooLargeError,
  decodeUtf8,
  readBoundedFile,
  readBoundedStream,
} from '../../contracts/bounded-read.ts';
import { parseStrictJson, StrictJsonError } from '../../contracts/strict-json.ts';
import {
  APPLICATION_MAX_BYTES,
  ApplicationError,
  mrzOf,
  parseApplication,
  parseTd3,
} from '../../mrtd/index.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';

/** Two 44-character lines and their line ends; a printed MRZ file is never bigger than this. */
const MRZ_MAX_BYTES = 1024;

/** Reads a file, or all of stdin for '-' or no file, up to `maxBytes`. */
async function readInput(
  file: string | undefined,
  maxBytes: number,
  what: string,
): Promise<Buffer> {
  try {
    return file && file !== '-'
      ? readBoundedFile(file, maxBytes, `${what} ${file}`)
      : await readBoundedStream(process.stdin, maxBytes, `${what} on stdin`);
  } catch (e) {
    if (e instanceof InputTooLargeError) throw new CliError(e.message);
    throw new CliError(`cannot read ${what}: ${(e as Error).message}`);
  }
}

/** Reads and parses an application JSON from a file or stdin ('-' or no file). */
export async function readApplicationJson(file: string | undefined): Promise<unknown> {
  const bytes = await readInput(file, APPLICATION_MAX_BYTES, 'the application');
  try {
    return parseStrictJson(decodeUtf8(bytes, 'the application'));
  } catch (e) {
    if (e instanceof InputNotTextError) throw new CliError(e.message);
    if (e instanceof StrictJsonError)
      throw new CliError(`the application is not valid JSON: ${e.message}`);
    throw e;
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('mrz')
    .description('print the two TD3 MRZ lines of an application (JSON from a file or stdin)')
    .argument('[file]', 'application JSON (see docs/application-format.md); stdin when absent or -')
    .option('--json', 'machine-readable output: {line1, line2, nameTruncated} or {errors}')
    .option('--check', 'instead: read a printed TD3 MRZ (two lines) and validate every check digit')
    .action(async (file: string | undefined, opts: { json?: boolean; check?: boolean }) => {
      if (opts.check) {
        const text = (await readInput(file, MRZ_MAX_BYTES, 'the MRZ')).toString('latin1');
        const p = parseTd3(text.trim());
        if (opts.json) ctx.out(JSON.stringify(p));
        else {
          for (const c of p.checks)
            ctx.out(
              `${c.ok ? 'ok  ' : 'FAIL'} ${c.name} check digit (position ${c.position}): ${c.actual}${c.ok ? '' : `, expected ${c.expected}`}`,
            );
          for (const problem of p.problems) ctx.out(`FAIL ${problem}`);
          ctx.out(p.valid ? 'MRZ valid' : 'MRZ INVALID');
        }
        if (!p.valid) ctx.setExitCode(1);
        return;
      }
      const json = await readApplicationJson(file);
      try {
        const app = parseApplication(json);
        const m = mrzOf(app);
        if (opts.json) ctx.out(JSON.stringify(m));
        else {
          ctx.out(m.line1);
          ctx.out(m.line2);
          if (m.nameTruncated) ctx.err('note: the name was truncated to fit the MRZ');
        }
      } catch (e) {
        if (!(e instanceof ApplicationError)) throw e;
        if (opts.json) ctx.out(JSON.stringify({ errors: e.errors }));
        for (const x of e.errors)
          ctx.err(
            `${x.field}: ${x.reason}${x.value !== '' ? ` (got ${JSON.stringify(x.value)})` : ''}`,
          );
        ctx.setExitCode(1);
      }
    });
}
