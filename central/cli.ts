/**
 * The `central` command: `start` runs the office; the other commands are admin calls to the
 * running office of a data directory (its URL and admin token are in that directory).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { adminCall } from './admin-client.ts';
import { ADMIN_TOKEN_FILE } from './secrets.ts';
import { productionLogger, startCentral, URL_FILE } from './start.ts';

function defaultDataDir(): string {
  return (
    process.env.CENTRAL_DATA_DIR ??
    join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'perso-central')
  );
}

async function admin(
  dataDir: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  let url: string;
  let token: string;
  try {
    url = readFileSync(join(dataDir, URL_FILE), 'utf8').trim();
    token = readFileSync(join(dataDir, ADMIN_TOKEN_FILE), 'utf8').trim();
  } catch {
    throw new Error(
      `no central office is running for ${dataDir}: start it with 'npx central start --data-dir ${dataDir}'`,
    );
  }
  return adminCall(url, token, method, path, body);
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('central').description('the central office of Perso Station');
  program.option('--data-dir <dir>', 'where the office keeps its database and keys');
  const dir = () => (program.opts().dataDir as string | undefined) ?? defaultDataDir();
  const print = (v: unknown) => console.log(JSON.stringify(v, null, 2));

  program
    .command('start')
    .description('start the central office (PGlite in the data directory unless DATABASE_URL)')
    .option('--data-dir <dir>', 'data directory')
    .option('--port <n>', 'port (default: any free one)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .action(async (o: { dataDir?: string; port?: string; host: string }) => {
      const dataDir = o.dataDir ?? dir();
      const c = await startCentral({
        dataDir,
        port: o.port === undefined ? 0 : Number(o.port),
        host: o.host,
        databaseUrl: process.env.DATABASE_URL || undefined,
        logger: productionLogger,
      });
      console.log(`central office listening on ${c.url} (${c.backend}, data in ${dataDir})`);
      await new Promise<void>((resolve) => {
        const stop = () => void c.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
  program
    .command('enrol-code')
    .description('issue a one-time enrolment code for a station (shown once)')
    .requiredOption('--station <id>')
    .action(async (o: { station: string }) => {
      const r = (await admin(dir(), 'POST', '/admin/enrol-codes', { stationId: o.station })) as {
        code: string;
        expiresAt: string;
      };
      console.log(`enrolment code for ${o.station}: ${r.code} (valid until ${r.expiresAt}, once)`);
    });
  program
    .command('revoke')
    .requiredOption('--station <id>')
    .action(async (o: { station: string }) =>
      print(await admin(dir(), 'POST', `/admin/stations/${encodeURIComponent(o.station)}/revoke`)),
    );
  program
    .command('stations')
    .action(async () => print(await admin(dir(), 'GET', '/admin/stations')));
  program
    .command('submit-application')
    .description(
      'queue an approved application for a station: a JSON file { applicationId, application, images }',
    )
    .requiredOption('--station <id>')
    .requiredOption('--file <path>')
    .action(async (o: { station: string; file: string }) => {
      const item = JSON.parse(readFileSync(o.file, 'utf8')) as object;
      print(
        await admin(dir(), 'POST', '/admin/pull-items', {
          stationId: o.station,
          item: { kind: 'application', ...item },
        }),
      );
    });
  program
    .command('lost-stolen')
    .requiredOption('--serial <serial>')
    .option('--status <s>', 'lost, stolen or cleared', 'lost')
    .action(async (o: { serial: string; status: string }) =>
      print(await admin(dir(), 'POST', '/admin/lost-stolen', o)),
    );
  program
    .command('report')
    .description('daily | silent | waiting | stock | audit')
    .argument('<which>')
    .action(async (which: string) => {
      const path: Record<string, string> = {
        daily: '/admin/reports/daily',
        silent: '/admin/reports/silent',
        waiting: '/admin/reports/waiting',
        stock: '/admin/reports/stock',
        audit: '/admin/audit-flags',
      };
      if (!path[which])
        throw new Error(`no report ${which}: daily, silent, waiting, stock or audit`);
      print(await admin(dir(), 'GET', path[which]!));
    });
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    console.error(`central: ${(e as Error).message}`);
    return 1;
  }
}
