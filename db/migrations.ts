import type { Database } from 'better-sqlite3';

/** One schema step. Versions run 1, 2, 3, ... with no gaps; each runs in one transaction. */
export interface Migration {
  version: number;
  name: string;
  up: (db: Database) => void;
}

/** Booklet states that still count as stock on hand (the rest are final). */
export const ON_HAND_STATES_SQL = `('received','allocated','in_process')`;

/**
 * The triggers that protect the audit log, the outbox and the trusted manifest keys, exactly as
 * migration 3 creates them. `station audit verify` compares each with its definition in
 * sqlite_master, so a trigger replaced by one of the same name that does nothing is named.
 * Never change a text here: a later change of a trigger is a new migration and a new list.
 */
export const PROTECTING_TRIGGERS_V3: readonly { name: string; table: string; sql: string }[] = [
  {
    name: 'audit_log_no_update',
    table: 'audit_log',
    sql: "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
  },
  {
    name: 'audit_log_no_delete',
    table: 'audit_log',
    sql: "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
  },
  {
    name: 'audit_head_no_delete',
    table: 'audit_head',
    sql: "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END",
  },
  {
    name: 'audit_head_forward_only',
    table: 'audit_head',
    sql: "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head WHEN NEW.seq <> OLD.seq + 1 BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward one entry at a time'); END",
  },
  {
    name: 'outbox_no_update',
    table: 'outbox',
    sql: "CREATE TRIGGER outbox_no_update BEFORE UPDATE ON outbox BEGIN SELECT RAISE(ABORT, 'outbox is append-only'); END",
  },
  {
    name: 'outbox_no_delete',
    table: 'outbox',
    sql: "CREATE TRIGGER outbox_no_delete BEFORE DELETE ON outbox BEGIN SELECT RAISE(ABORT, 'outbox is append-only'); END",
  },
  {
    name: 'outbox_delivery_no_update',
    table: 'outbox_delivery',
    sql: "CREATE TRIGGER outbox_delivery_no_update BEFORE UPDATE ON outbox_delivery BEGIN SELECT RAISE(ABORT, 'outbox_delivery is append-only'); END",
  },
  {
    name: 'outbox_delivery_no_delete',
    table: 'outbox_delivery',
    sql: "CREATE TRIGGER outbox_delivery_no_delete BEFORE DELETE ON outbox_delivery BEGIN SELECT RAISE(ABORT, 'outbox_delivery is append-only'); END",
  },
  {
    name: 'trusted_keys_no_delete',
    table: 'trusted_keys',
    sql: "CREATE TRIGGER trusted_keys_no_delete BEFORE DELETE ON trusted_keys BEGIN SELECT RAISE(ABORT, 'trusted keys are never deleted; revoke them'); END",
  },
  {
    name: 'trusted_keys_revoke_only',
    table: 'trusted_keys',
    sql: "CREATE TRIGGER trusted_keys_revoke_only BEFORE UPDATE ON trusted_keys WHEN OLD.revoked_at IS NOT NULL OR NEW.revoked_at IS NULL OR NEW.key_id IS NOT OLD.key_id OR NEW.label IS NOT OLD.label OR NEW.algorithm IS NOT OLD.algorithm OR NEW.public_key_pem IS NOT OLD.public_key_pem OR NEW.agency_code IS NOT OLD.agency_code OR NEW.manufacturer IS NOT OLD.manufacturer OR NEW.added_at IS NOT OLD.added_at OR NEW.added_by IS NOT OLD.added_by BEGIN SELECT RAISE(ABORT, 'a trusted key can only be revoked, once'); END",
  },
];

/**
 * The ordered migrations. Append only: never edit a migration that has shipped; add a new one.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'station, agencies, stock ledger, users, audit log, outbox',
    up: (db) => {
      db.exec(`
        CREATE TABLE agencies (
          code TEXT PRIMARY KEY CHECK (code GLOB '[A-Z]*' AND length(code) BETWEEN 2 AND 40),
          name TEXT NOT NULL,
          created_at TEXT NOT NULL
        ) STRICT;

        CREATE TABLE station (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          station_id TEXT NOT NULL,
          agency_code TEXT NOT NULL REFERENCES agencies(code),
          timezone TEXT NOT NULL,
          created_at TEXT NOT NULL
        ) STRICT;

        CREATE TABLE chip_profiles (
          agency_code TEXT NOT NULL REFERENCES agencies(code),
          profile_id TEXT NOT NULL,
          chip_os TEXT NOT NULL,
          applet_version TEXT NOT NULL,
          key_version INTEGER NOT NULL CHECK (key_version >= 0),
          accepted INTEGER NOT NULL DEFAULT 1 CHECK (accepted IN (0, 1)),
          created_at TEXT NOT NULL,
          PRIMARY KEY (agency_code, profile_id)
        ) STRICT;

        CREATE TABLE users (
          id INTEGER PRIMARY KEY,
          username TEXT NOT NULL UNIQUE,
          role TEXT NOT NULL CHECK (role IN ('operator','supervisor','technician','admin')),
          secret_hash TEXT NOT NULL,
          failed_attempts INTEGER NOT NULL DEFAULT 0,
          locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
          disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
          created_at TEXT NOT NULL
        ) STRICT;

        CREATE TABLE trusted_keys (
          key_id TEXT PRIMARY KEY,
          label TEXT NOT NULL,
          algorithm TEXT NOT NULL CHECK (algorithm IN ('Ed25519','ECDSA-P256-SHA256')),
          public_key_pem TEXT NOT NULL,
          added_at TEXT NOT NULL,
          added_by INTEGER NOT NULL REFERENCES users(id),
          revoked_at TEXT
        ) STRICT;

        CREATE TABLE batches (
          batch_id TEXT PRIMARY KEY,
          agency_code TEXT NOT NULL REFERENCES agencies(code),
          profile_id TEXT NOT NULL,
          stock_class TEXT NOT NULL CHECK (stock_class IN ('production','test')),
          manufacturer TEXT NOT NULL,
          manifest_sha256 TEXT NOT NULL,
          signer_key_id TEXT NOT NULL,
          booklet_count INTEGER NOT NULL,
          imported_at TEXT NOT NULL,
          imported_by INTEGER NOT NULL REFERENCES users(id),
          FOREIGN KEY (agency_code, profile_id) REFERENCES chip_profiles(agency_code, profile_id)
        ) STRICT;

        CREATE TABLE booklets (
          id INTEGER PRIMARY KEY,
          serial TEXT NOT NULL UNIQUE,
          chip_serial TEXT NOT NULL UNIQUE,
          chip_uid TEXT,
          batch_id TEXT NOT NULL REFERENCES batches(batch_id),
          stock_class TEXT NOT NULL CHECK (stock_class IN ('production','test')),
          state TEXT NOT NULL CHECK (state IN ('received','allocated','in_process','issued',
            'spoiled','voided','refused','test_consumed','lost_stolen','returned')),
          holder_station TEXT NOT NULL,
          CHECK (NOT (stock_class = 'test' AND state = 'issued'))
        ) STRICT;
        CREATE INDEX booklets_batch ON booklets(batch_id, serial);
        CREATE INDEX booklets_on_hand ON booklets(holder_station, state)
          WHERE state IN ${ON_HAND_STATES_SQL};

        CREATE TABLE booklet_events (
          id INTEGER PRIMARY KEY,
          booklet_id INTEGER NOT NULL REFERENCES booklets(id),
          from_state TEXT,
          to_state TEXT NOT NULL,
          from_holder TEXT,
          to_holder TEXT NOT NULL,
          actor_id INTEGER NOT NULL REFERENCES users(id),
          station_id TEXT NOT NULL,
          at TEXT NOT NULL,
          day TEXT NOT NULL,
          reason TEXT NOT NULL
        ) STRICT;
        CREATE INDEX booklet_events_booklet ON booklet_events(booklet_id, id);
        CREATE INDEX booklet_events_day ON booklet_events(day);
        CREATE TRIGGER booklet_events_no_update BEFORE UPDATE ON booklet_events
          BEGIN SELECT RAISE(ABORT, 'booklet_events is append-only'); END;
        CREATE TRIGGER booklet_events_no_delete BEFORE DELETE ON booklet_events
          BEGIN SELECT RAISE(ABORT, 'booklet_events is append-only'); END;

        -- Per station and day, how many booklets entered or left its stock, by category.
        -- Kept by the life-cycle module in the same transaction as each event.
        CREATE TABLE daily_flows (
          day TEXT NOT NULL,
          station_id TEXT NOT NULL,
          category TEXT NOT NULL,
          n INTEGER NOT NULL,
          PRIMARY KEY (day, station_id, category)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE audit_log (
          seq INTEGER PRIMARY KEY,
          at TEXT NOT NULL,
          actor TEXT NOT NULL,
          station_id TEXT NOT NULL,
          action TEXT NOT NULL,
          details TEXT NOT NULL,
          prev_hash TEXT NOT NULL,
          hash TEXT NOT NULL
        ) STRICT;
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
          BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
          BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        -- The chain head, moved in the same transaction as each append: deleting the last
        -- entries leaves the head pointing past the end.
        CREATE TABLE audit_head (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          seq INTEGER NOT NULL,
          hash TEXT NOT NULL
        ) STRICT;
        CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
          BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END;
        CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head
          WHEN NEW.seq <> OLD.seq + 1
          BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward one entry at a time'); END;

        CREATE TABLE outbox (
          id INTEGER PRIMARY KEY,
          kind TEXT NOT NULL,
          payload TEXT NOT NULL CHECK (json_valid(payload)),
          idempotency_key TEXT NOT NULL UNIQUE,
          created_at TEXT NOT NULL,
          delivered_at TEXT
        ) STRICT;
        CREATE INDEX outbox_pending ON outbox(id) WHERE delivered_at IS NULL;
      `);
    },
  },
  {
    version: 2,
    name: 'intake jobs, their step journal, refusals',
    up: (db) => {
      db.exec(`
        CREATE TABLE intake_jobs (
          id INTEGER PRIMARY KEY,
          job_kind TEXT NOT NULL CHECK (job_kind IN ('production','test')),
          station_id TEXT NOT NULL,
          actor_id INTEGER NOT NULL REFERENCES users(id),
          started_at TEXT NOT NULL,
          finished_at TEXT,
          status TEXT NOT NULL CHECK (status IN
            ('running','accepted','refused','released','interrupted','failed')),
          printed_serial TEXT,
          chip_serial TEXT,
          chip_uid TEXT,
          claimed_agency TEXT,
          chip_profile TEXT,
          key_version INTEGER,
          reason TEXT,
          error TEXT
        ) STRICT;
        CREATE INDEX intake_jobs_open ON intake_jobs(id) WHERE status IN ('running','accepted');

        CREATE TABLE intake_journal (
          id INTEGER PRIMARY KEY,
          job_id INTEGER NOT NULL REFERENCES intake_jobs(id),
          step TEXT NOT NULL,
          at TEXT NOT NULL,
          detail TEXT NOT NULL CHECK (json_valid(detail))
        ) STRICT;
        CREATE INDEX intake_journal_job ON intake_journal(job_id, id);
        CREATE TRIGGER intake_journal_no_update BEFORE UPDATE ON intake_journal
          BEGIN SELECT RAISE(ABORT, 'intake_journal is append-only'); END;
        CREATE TRIGGER intake_journal_no_delete BEFORE DELETE ON intake_journal
          BEGIN SELECT RAISE(ABORT, 'intake_journal is append-only'); END;

        CREATE TABLE refusals (
          id INTEGER PRIMARY KEY,
          job_id INTEGER NOT NULL UNIQUE REFERENCES intake_jobs(id),
          at TEXT NOT NULL,
          day TEXT NOT NULL,
          station_id TEXT NOT NULL,
          actor_id INTEGER NOT NULL REFERENCES users(id),
          reason TEXT NOT NULL,
          printed_serial TEXT,
          chip_serial TEXT,
          chip_uid TEXT,
          claimed_agency TEXT,
          chip_profile TEXT,
          booklet_id INTEGER REFERENCES booklets(id),
          detail TEXT NOT NULL CHECK (json_valid(detail))
        ) STRICT;
        CREATE INDEX refusals_day ON refusals(day, station_id);
        CREATE TRIGGER refusals_no_update BEFORE UPDATE ON refusals
          BEGIN SELECT RAISE(ABORT, 'refusals are append-only'); END;
        CREATE TRIGGER refusals_no_delete BEFORE DELETE ON refusals
          BEGIN SELECT RAISE(ABORT, 'refusals are append-only'); END;
      `);
    },
  },
  {
    version: 3,
    name: 'audit signatures, append-only outbox carrying the audit head, bound manifest keys',
    up: (db) => {
      db.exec(`
        -- Each entry's signature by the station audit key (key custody); NULL only for entries
        -- written before this version (see docs/ledger.md, enrolling an audit key).
        ALTER TABLE audit_log ADD COLUMN sig TEXT;

        -- Delivery state lives beside the outbox, which becomes append-only: a record is
        -- marked delivered by inserting one row here, once.
        DROP INDEX outbox_pending;
        CREATE TABLE outbox_delivery (
          outbox_id INTEGER PRIMARY KEY REFERENCES outbox(id),
          delivered_at TEXT NOT NULL
        ) STRICT;
        INSERT INTO outbox_delivery (outbox_id, delivered_at)
          SELECT id, delivered_at FROM outbox WHERE delivered_at IS NOT NULL;
        ALTER TABLE outbox DROP COLUMN delivered_at;
        -- The audit head (seq, entry hash, signature) when the record was queued: the central
        -- office holds the chain's anchor outside the station.
        ALTER TABLE outbox ADD COLUMN audit_seq INTEGER;
        ALTER TABLE outbox ADD COLUMN audit_hash TEXT;
        ALTER TABLE outbox ADD COLUMN audit_sig TEXT;

        -- Each manifest key is bound to the agency (and optionally the manufacturer) whose
        -- manifests it may sign. Keys trusted before get the station's own agency: the only
        -- one whose manifests the station ever imported.
        CREATE TABLE trusted_keys_v3 (
          key_id TEXT PRIMARY KEY,
          label TEXT NOT NULL,
          algorithm TEXT NOT NULL CHECK (algorithm IN ('Ed25519','ECDSA-P256-SHA256')),
          public_key_pem TEXT NOT NULL,
          agency_code TEXT NOT NULL,
          manufacturer TEXT CHECK (manufacturer IS NULL OR length(manufacturer) BETWEEN 1 AND 200),
          added_at TEXT NOT NULL,
          added_by INTEGER NOT NULL REFERENCES users(id),
          revoked_at TEXT
        ) STRICT;
        INSERT INTO trusted_keys_v3 (key_id, label, algorithm, public_key_pem, agency_code,
            manufacturer, added_at, added_by, revoked_at)
          SELECT key_id, label, algorithm, public_key_pem,
            (SELECT agency_code FROM station WHERE id = 1), NULL, added_at, added_by, revoked_at
          FROM trusted_keys;
        DROP TABLE trusted_keys;
        ALTER TABLE trusted_keys_v3 RENAME TO trusted_keys;

        DROP TRIGGER audit_log_no_update;
        DROP TRIGGER audit_log_no_delete;
        DROP TRIGGER audit_head_no_delete;
        DROP TRIGGER audit_head_forward_only;
      `);
      for (const t of PROTECTING_TRIGGERS_V3) db.exec(t.sql);
    },
  },
  {
    version: 4,
    name: 'intake jobs record the station process (lock session) that ran them',
    up: (db) => {
      // Recovery settles only the unfinished jobs of a process that is gone: the session id
      // of the data-directory lock (station/station-lock.ts) the job was started under.
      db.exec(`ALTER TABLE intake_jobs ADD COLUMN owner TEXT`);
    },
  },
  {
    version: 5,
    name: 'application queue, its sealed personal data',
    up: (db) => {
      // Only what the queue needs stays in the clear (docs/applications.md); names, dates of
      // birth, images and every other application field are sealed in application_data.
      db.exec(`
        CREATE TABLE applications (
          id INTEGER PRIMARY KEY,
          status TEXT NOT NULL CHECK (status IN
            ('queued','taken','on_hold','personalized','cancelled')),
          received_at TEXT NOT NULL,
          received_by INTEGER NOT NULL REFERENCES users(id),
          document_code TEXT NOT NULL,
          issuing_state TEXT NOT NULL,
          -- SHA-256 over the application and its images: refuses a second import of the same one.
          content_digest TEXT NOT NULL,
          -- The custody key that wrapped this application's own data key, and the wrapped key.
          key_label TEXT NOT NULL,
          wrapped_key BLOB,
          taken_by INTEGER REFERENCES users(id),
          taken_at TEXT,
          document_number TEXT,
          updated_at TEXT NOT NULL,
          CHECK (status <> 'taken' OR taken_by IS NOT NULL),
          CHECK ((status = 'personalized') = (document_number IS NOT NULL)),
          -- A final application keeps no personal data: its sealed data and key are erased.
          CHECK ((status IN ('personalized','cancelled')) = (wrapped_key IS NULL))
        ) STRICT;
        CREATE INDEX applications_queue ON applications(status, id);
        CREATE UNIQUE INDEX applications_document_number ON applications(document_number)
          WHERE document_number IS NOT NULL;
        CREATE TRIGGER applications_no_delete BEFORE DELETE ON applications
          BEGIN SELECT RAISE(ABORT, 'applications are never deleted'); END;
        CREATE UNIQUE INDEX applications_digest ON applications(content_digest)
          WHERE status <> 'cancelled';

        CREATE TABLE application_data (
          application_id INTEGER NOT NULL REFERENCES applications(id),
          field TEXT NOT NULL CHECK (field IN ('details','face','signature')),
          sealed BLOB NOT NULL,
          PRIMARY KEY (application_id, field)
        ) STRICT, WITHOUT ROWID;
      `);
    },
  },
  {
    version: 6,
    name: 'personalization jobs, their journal, issuance records, test job results, print order',
    up: (db) => {
      // docs/personalization.md. A job's journal row is written before the device is asked to
      // act, so after a crash it says how far the booklet got; recovery reads the booklet and
      // compares it with what the journal says was written.
      db.exec(`
        ALTER TABLE chip_profiles ADD COLUMN perso_order TEXT NOT NULL DEFAULT 'encode-first'
          CHECK (perso_order IN ('encode-first','print-first'));

        CREATE TABLE perso_jobs (
          id INTEGER PRIMARY KEY,
          job_kind TEXT NOT NULL CHECK (job_kind IN ('production','test')),
          station_id TEXT NOT NULL,
          actor_id INTEGER NOT NULL REFERENCES users(id),
          owner TEXT,
          started_at TEXT NOT NULL,
          finished_at TEXT,
          status TEXT NOT NULL CHECK (status IN
            ('running','issued','test_passed','spoiled','returned','abandoned')),
          application_id INTEGER REFERENCES applications(id),
          intake_job_id INTEGER REFERENCES intake_jobs(id),
          booklet_serial TEXT,
          chip_uid TEXT,
          document_number TEXT,
          -- The MRZ under the application data key (recovery reads the chip with it); erased
          -- when the job ends: the database keeps no personal data in the clear.
          sealed_mrz BLOB,
          sod_sha256 TEXT,
          signer_certificate TEXT,
          first_write_at TEXT,
          failed_step TEXT,
          reason TEXT,
          CHECK (status = 'running' OR sealed_mrz IS NULL)
        ) STRICT;
        CREATE INDEX perso_jobs_open ON perso_jobs(id) WHERE status = 'running';
        CREATE UNIQUE INDEX perso_jobs_intake ON perso_jobs(intake_job_id)
          WHERE intake_job_id IS NOT NULL;

        CREATE TABLE perso_journal (
          id INTEGER PRIMARY KEY,
          job_id INTEGER NOT NULL REFERENCES perso_jobs(id),
          step TEXT NOT NULL,
          at TEXT NOT NULL,
          detail TEXT NOT NULL CHECK (json_valid(detail))
        ) STRICT;
        CREATE INDEX perso_journal_job ON perso_journal(job_id, id);
        CREATE TRIGGER perso_journal_no_update BEFORE UPDATE ON perso_journal
          BEGIN SELECT RAISE(ABORT, 'perso_journal is append-only'); END;
        CREATE TRIGGER perso_journal_no_delete BEFORE DELETE ON perso_journal
          BEGIN SELECT RAISE(ABORT, 'perso_journal is append-only'); END;

        CREATE TABLE issuances (
          id INTEGER PRIMARY KEY,
          job_id INTEGER NOT NULL UNIQUE REFERENCES perso_jobs(id),
          application_id INTEGER NOT NULL UNIQUE REFERENCES applications(id),
          document_number TEXT NOT NULL UNIQUE,
          booklet_serial TEXT NOT NULL UNIQUE,
          chip_uid TEXT NOT NULL,
          dg_hashes TEXT NOT NULL CHECK (json_valid(dg_hashes)),
          sod_sha256 TEXT NOT NULL,
          signer_certificate TEXT NOT NULL,
          operator TEXT NOT NULL,
          station_id TEXT NOT NULL,
          steps TEXT NOT NULL CHECK (json_valid(steps)),
          checks TEXT NOT NULL CHECK (json_valid(checks)),
          recovered INTEGER NOT NULL DEFAULT 0 CHECK (recovered IN (0, 1)),
          issued_at TEXT NOT NULL,
          day TEXT NOT NULL
        ) STRICT;
        CREATE TRIGGER issuances_no_update BEFORE UPDATE ON issuances
          BEGIN SELECT RAISE(ABORT, 'issuances are append-only'); END;
        CREATE TRIGGER issuances_no_delete BEFORE DELETE ON issuances
          BEGIN SELECT RAISE(ABORT, 'issuances are append-only'); END;

        CREATE TABLE test_job_results (
          id INTEGER PRIMARY KEY,
          kind TEXT NOT NULL,
          station_id TEXT NOT NULL,
          actor_id INTEGER NOT NULL REFERENCES users(id),
          at TEXT NOT NULL,
          passed INTEGER NOT NULL CHECK (passed IN (0, 1)),
          booklet_serial TEXT,
          perso_job_id INTEGER REFERENCES perso_jobs(id),
          detail TEXT NOT NULL CHECK (json_valid(detail))
        ) STRICT;
        CREATE TRIGGER test_job_results_no_update BEFORE UPDATE ON test_job_results
          BEGIN SELECT RAISE(ABORT, 'test job results are append-only'); END;
        CREATE TRIGGER test_job_results_no_delete BEFORE DELETE ON test_job_results
          BEGIN SELECT RAISE(ABORT, 'test job results are append-only'); END;
      `);
    },
  },
  {
    version: 7,
    name: 'sync with the central office: enrolment, acknowledged sequence, pull cursor, allowance',
    up: (db) => {
      // docs/sync-station.md. The pushed sequence of a record is its outbox id (the outbox is
      // append-only, so ids never move) and, for audit entries, their seq: what the central
      // office acknowledged is kept here, and each acknowledged outbox record also gets its
      // row in outbox_delivery.
      db.exec(`
        CREATE TABLE sync_config (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          central_url TEXT NOT NULL,
          central_key_pem TEXT NOT NULL,
          station_key_id TEXT NOT NULL,
          enrolled_at TEXT NOT NULL,
          enrolled_by INTEGER NOT NULL REFERENCES users(id),
          -- The supervisor on whose behalf pulled applications are imported.
          applied_by INTEGER NOT NULL REFERENCES users(id)
        ) STRICT;

        CREATE TABLE sync_state (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          acked_outbox_seq INTEGER NOT NULL DEFAULT 0,
          acked_audit_seq INTEGER NOT NULL DEFAULT 0,
          pull_cursor INTEGER NOT NULL DEFAULT 0,
          last_attempt_at TEXT,
          last_success_at TEXT,
          last_error TEXT,
          -- The signed offline allowance as the central office sent it (JSON), verified on
          -- receipt and again at every use.
          allowance TEXT CHECK (allowance IS NULL OR json_valid(allowance)),
          lost_stolen_as_of TEXT,
          retention_hours INTEGER CHECK (retention_hours IS NULL OR retention_hours >= 0)
        ) STRICT;

        -- The lost/stolen list as the central office last sent it.
        CREATE TABLE sync_lost_stolen (
          serial TEXT PRIMARY KEY,
          status TEXT NOT NULL CHECK (status IN ('lost','stolen')),
          reported_at TEXT NOT NULL,
          pulled_at TEXT NOT NULL
        ) STRICT, WITHOUT ROWID;

        -- Pulled applications already imported, by the central office's id: a pull repeated
        -- after a crash imports nothing twice.
        CREATE TABLE sync_pulled_applications (
          central_id TEXT PRIMARY KEY,
          application_id INTEGER NOT NULL REFERENCES applications(id),
          pulled_at TEXT NOT NULL
        ) STRICT, WITHOUT ROWID;

        -- What retention erased, and when: the application keeps its id, state and number.
        CREATE TABLE sync_retention (
          application_id INTEGER PRIMARY KEY REFERENCES applications(id),
          acknowledged_at TEXT NOT NULL,
          erased_at TEXT NOT NULL
        ) STRICT;
      `);
    },
  },
];

/** The schema version this code writes. */
export const LATEST_SCHEMA_VERSION = migrations.length;
