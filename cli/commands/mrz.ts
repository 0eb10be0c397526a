import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApplicationError, mrzOf, parseApplication, parseTd3 } from '../../mrtd/index.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';

/** Reads all of stdin (the application JSON when no file is given). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads and parses an application JSON from a file or stdin ('-' or no file). */
export async function readApplicationJson(file: string | undefined): Promise<unknown> {
  let text: string;
  try {
    text = file && file !== '-' ? readFileSync(file, 'utf8') : await readStdin();
  } catch (e) {
    throw new CliError(`cannot read the application: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CliError(`the application is not valid JSON: ${(e as Error).message}`);
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
        let text: string;
        try {
          text = file && file !== '-' ? readFileSync(file, 'latin1') : await readStdin();
        } catch (e) {
          throw new CliError(`cannot read the MRZ: ${(e as Error).message}`);
        }
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
