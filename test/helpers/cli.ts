import { main } from '../../cli/main.ts';

export interface CliRun {
  code: number;
  out: string[];
  err: string[];
  stdout: string;
  stderr: string;
}

/** Runs the `station` CLI in-process with captured output. */
export async function runCli(args: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'station', ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out, err, stdout: out.join('\n'), stderr: err.join('\n') };
}
