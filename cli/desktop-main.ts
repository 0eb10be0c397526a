/**
 * The entry of `npm start`'s bundle (scripts/start.mjs bundles it with esbuild): the `station`
 * command with `desktop` alone registered, so starting the desktop app loads one bundled file
 * instead of every command module through tsx. `station desktop` (bin/station.mjs) is the same
 * command from the sources.
 */
import { register } from './commands/desktop.ts';
import { main } from './main.ts';

/** Runs `station <argv.slice(2)>` with the desktop command; returns the exit code. */
export function run(argv: string[]): Promise<number> {
  return main(argv, undefined, [register]);
}
