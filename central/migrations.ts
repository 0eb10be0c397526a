/**
 * The central office schema: an ordered list of migrations, each applied once in its own
 * transaction and recorded in schema_version. Append only: a shipped migration never changes.
 */
import type pg from 'pg';

const MIGRATIONS: readonly string[] = [
  // 1: stations, enrolment codes, nonces, records, audit entries and flags, stock, pull items.
  `CREATE TABLE settings (key text PRIMARY KEY, value jsonb NOT NULL);
   CREATE TABLE stations (
     station_id text PRIMARY KEY,
     public_key text NOT NULL,
     key_alg text NOT NULL,
     audit_public_key text NOT NULL,
     enrolled_at timestamptz NOT NULL,
     revoked_at timestamptz,
     acked_seq bigint NOT NULL DEFAULT 0,
     audit_acked_seq bigint NOT NULL DEFAULT 0,
     last_seen_at timestamptz,
     outbox_waiting integer,
     outbox_oldest_at timestamptz,
     pull_cursor bigint NOT NULL DEFAULT 0
   );
   CREATE TABLE enrol_codes (
     code_sha256 text PRIMARY KEY,
     station_id text NOT NULL,
     created_at timestamptz NOT NULL,
     expires_at timestamptz NOT NULL,
     used_at timestamptz
   );
   CREATE TABLE nonces (
     station_id text NOT NULL,
     nonce text NOT NULL,
     seen_at timestamptz NOT NULL,
     PRIMARY KEY (station_id, nonce)
   );
   CREATE INDEX nonces_seen ON nonces (seen_at);
   CREATE TABLE records (
     station_id text NOT NULL REFERENCES stations,
     seq bigint NOT NULL,
     kind text NOT NULL,
     idempotency_key text NOT NULL,
     created_at timestamptz NOT NULL,
     payload jsonb NOT NULL,
     audit_seq bigint,
     audit_hash text,
     audit_sig text,
     received_at timestamptz NOT NULL,
     PRIMARY KEY (station_id, seq),
     UNIQUE (station_id, idempotency_key)
   );
   CREATE INDEX records_kind_day ON records (kind, created_at);
   CREATE TABLE audit_entries (
     station_id text NOT NULL REFERENCES stations,
     seq bigint NOT NULL,
     at text NOT NULL,
     actor text NOT NULL,
     entry_station_id text NOT NULL,
     action text NOT NULL,
     details text NOT NULL,
     prev_hash text NOT NULL,
     hash text NOT NULL,
     sig text,
     received_at timestamptz NOT NULL,
     PRIMARY KEY (station_id, seq)
   );
   CREATE INDEX audit_entries_hash ON audit_entries (station_id, hash);
   CREATE TABLE audit_flags (
     id bigserial PRIMARY KEY,
     station_id text NOT NULL,
     seq bigint,
     to_seq bigint,
     kind text NOT NULL,
     message text NOT NULL,
     flagged_at timestamptz NOT NULL
   );
   CREATE TABLE stock_on_hand (
     station_id text NOT NULL REFERENCES stations,
     state text NOT NULL,
     stock_class text NOT NULL,
     count integer NOT NULL,
     as_of timestamptz NOT NULL,
     PRIMARY KEY (station_id, state, stock_class)
   );
   CREATE TABLE pull_items (
     seq bigserial PRIMARY KEY,
     station_id text,
     kind text NOT NULL,
     item jsonb NOT NULL,
     created_at timestamptz NOT NULL
   );
   CREATE INDEX pull_items_station ON pull_items (station_id, seq);`,
  // 2: wrong enrolment codes, for the limit on guessing them (central/enrol-limit.ts). The
  // code itself is never stored.
  `CREATE TABLE enrol_failures (
     id bigserial PRIMARY KEY,
     station_id text NOT NULL,
     source text NOT NULL,
     failed_at timestamptz NOT NULL
   );
   CREATE INDEX enrol_failures_station ON enrol_failures (station_id, failed_at);
   CREATE INDEX enrol_failures_source ON enrol_failures (source, failed_at);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export async function migrate(pool: pg.Pool): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY)');
    for (let v = 1; v <= MIGRATIONS.length; v++) {
      await c.query('BEGIN');
      try {
        // The lock keeps two processes starting at once from applying the same migration.
        await c.query('LOCK TABLE schema_version IN EXCLUSIVE MODE');
        const done = await c.query('SELECT 1 FROM schema_version WHERE version = $1', [v]);
        if (done.rowCount === 0) {
          await c.query(MIGRATIONS[v - 1]!);
          await c.query('INSERT INTO schema_version (version) VALUES ($1)', [v]);
        }
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw new Error(`central migration ${v} failed: ${(e as Error).message}`);
      }
    }
    const newer = await c.query('SELECT max(version) AS v FROM schema_version');
    const found = Number(newer.rows[0]?.v ?? 0);
    if (found > MIGRATIONS.length)
      throw new Error(
        `the central database is at schema version ${found}, newer than this program (${MIGRATIONS.length})`,
      );
  } finally {
    c.release();
  }
}
