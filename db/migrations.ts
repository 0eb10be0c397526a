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
];

/** The schema version this code writes. */
export const LATEST_SCHEMA_VERSION = migrations.length;
