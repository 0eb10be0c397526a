import type { Command } from 'commander';
import { auditKeyOf, listAudit, verifyAudit } from '../../station/audit.ts';
import { enrollAuditKey, getStationIdentity } from '../../station/identity.ts';
import { auditKeyId, auditPublicKeyPem, createAuditKey } from '../../station/keys/audit-key.ts';
import { KeyCustodyError } from '../../station/keys/errors.ts';
import type { CliContext } from '../context.ts';
import { CliError } from '../errors.ts';
import { login, readStationDb, withStationDb } from './users.ts';

export function register(program: Command, ctx: CliContext): void {
  const audit = program
    .command('audit')
    .description('the audit log: hash-chained, signed with the station audit key, anchored');

  audit
    .command('verify')
    .description(
      'check the audit chain with the audit key from key custody; names every edited, removed, reordered, forged or cut entry and every altered trigger (exit 1 if any)',
    )
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) =>
      readStationDb(ctx, (db) => {
        const v = verifyAudit(db);
        if (!v.ok) ctx.setExitCode(1);
        if (opts.json) return ctx.out(JSON.stringify(v));
        if (v.ok)
          ctx.out(
            `audit log intact: ${v.entries} entries, signed; anchored at entry #${v.anchorSeq}`,
          );
        else {
          ctx.out(`audit log TAMPERED: ${v.problems.length} problem(s) in ${v.entries} entries`);
          for (const p of v.problems) ctx.out(`  ${p.message}`);
        }
      }),
    );

  audit
    .command('public-key')
    .description(
      "print the station audit key's public half (PEM) from key custody, for the central office",
    )
    .action(() =>
      withStationDb(ctx, (db) => {
        getStationIdentity(db);
        const key = custody(() => auditKeyOf(db));
        ctx.err(`audit key ${auditKeyId(key.publicKey)} (${key.kind})`);
        ctx.out(auditPublicKeyPem(key).trimEnd());
      }),
    );

  audit
    .command('enroll-key')
    .description(
      'generate the audit key of a station set up before audit keys, in its key custody, and start signing (admin)',
    )
    .option('--user <name>', 'the admin doing it')
    .action((opts: { user?: string }) =>
      withStationDb(ctx, async (db) => {
        const { stationId } = getStationIdentity(db);
        const admin = await login(db, opts.user, ['admin'], 'enroll the audit key');
        const key = custody(() => createAuditKey(ctx.dataDir(), stationId));
        const e = enrollAuditKey(db, admin, key);
        ctx.out(
          `audit key ${auditKeyId(key.publicKey)} (${key.kind}) enrolled at entry #${e.seq}; ${e.seq - 1} earlier entries are vouched for by its hash chain`,
        );
      }),
    );

  audit
    .command('list')
    .description('show audit entries')
    .option('--after <seq>', 'entries after this number', '0')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'machine-readable output')
    .action((opts: { after: string; limit: string; json?: boolean }) =>
      readStationDb(ctx, (db) => {
        if (!/^\d+$/.test(opts.after) || !/^\d+$/.test(opts.limit))
          throw new CliError('--after and --limit take whole numbers');
        const list = listAudit(db, { afterSeq: Number(opts.after), limit: Number(opts.limit) });
        if (opts.json) return ctx.out(JSON.stringify(list));
        for (const e of list)
          ctx.out(
            `#${e.seq} ${e.at} ${e.actor}@${e.stationId} ${e.action} ${JSON.stringify(e.details)}`,
          );
      }),
    );
}

function custody<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KeyCustodyError) throw new CliError(e.message);
    throw e;
  }
}
