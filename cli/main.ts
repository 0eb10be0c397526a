import { Command, CommanderError } from 'commander';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { makeContext, type CliContext, type RegisterCommands } from './context.ts';
import { CliError } from './errors.ts';
import { safeForTerminal } from './terminal-text.ts';

const commandsDir = join(dirname(fileURLToPath(import.meta.url)), 'commands');

/**
 * Builds the `station` program with every command module in cli/commands/ registered, or only
 * `commands` when given (npm start's bundle registers `desktop` alone: cli/desktop-main.ts).
 */
export async function buildProgram(
  io?: {
    out?: (line: string) => void;
    err?: (line: string) => void;
  },
  commands?: readonly RegisterCommands[],
): Promise<{ program: Command; ctx: CliContext }> {
  const program = new Command('station')
    .description('Perso Station: passport print-station controller')
    .option(
      '--data-dir <dir>',
      'where the station keeps its database and keys (env STATION_DATA_DIR)',
    )
    .showHelpAfterError()
    .exitOverride();
  if (io?.out || io?.err) {
    program.configureOutput({
      writeOut: (s) => io.out?.(s.replace(/\n$/, '')),
      writeErr: (s) => io.err?.(s.replace(/\n$/, '')),
    });
  }
  const ctx = makeContext(program, io);
  // The lock's holder record names the command (its path only: no option values).
  program.hook('preAction', (_root, action) => {
    const names: string[] = [];
    for (let c: Command | null = action; c; c = c.parent) names.unshift(c.name());
    ctx.setCommandName(names.join(' '));
  });
  if (commands) for (const register of commands) register(program, ctx);
  else {
    const files = readdirSync(commandsDir)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .sort();
    for (const file of files) {
      const mod = (await import(pathToFileURL(join(commandsDir, file)).href)) as {
        register?: RegisterCommands;
      };
      if (typeof mod.register !== 'function')
        throw new Error(`cli/commands/${file} exports no register()`);
      mod.register(program, ctx);
    }
  }
  // Every subcommand inherits exitOverride so errors come back here.
  const propagate = (cmd: Command): void => {
    for (const sub of cmd.commands) {
      sub.exitOverride();
      if (io?.out || io?.err) sub.configureOutput(program.configureOutput());
      propagate(sub);
    }
  };
  propagate(program);
  return { program, ctx };
}

/** Runs the CLI; returns the process exit code. */
export async function main(
  argv: string[],
  io?: { out?: (line: string) => void; err?: (line: string) => void },
  commands?: readonly RegisterCommands[],
): Promise<number> {
  const write = io?.err ?? ((line: string) => process.stderr.write(line + '\n'));
  // Error messages quote input (file names, fields): escaped like every other line.
  const err = (line: string): void => write(safeForTerminal(line));
  let built: { program: Command; ctx: CliContext } | undefined;
  try {
    built = await buildProgram(io, commands);
    await built.program.parseAsync(argv);
    return built.ctx.exitCode();
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode;
    }
    if (e instanceof CliError) {
      err(`station: ${e.message}`);
      return e.exitCode;
    }
    const message = e instanceof Error ? e.message : String(e);
    err(`station: ${message}`);
    if (process.env.STATION_DEBUG) console.error(e);
    return 1;
  } finally {
    built?.ctx.releaseStation();
  }
}
