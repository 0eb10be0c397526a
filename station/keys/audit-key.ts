/**
 * The station audit key: an ECDSA P-256 key pair kept in key custody (a non-extractable token
 * object in production, an encrypted development file in development) that signs every audit
 * entry and the audit anchor. The database never holds the private half, so write access to
 * the database file is not enough to add, edit, reorder or truncate the audit chain unseen; the
 * central office verifies the same signatures with the public half (docs/key-custody.md).
 *
 * The anchor is the latest audit head (seq, entry hash) signed as an anchor statement, kept
 * outside the database: a private data object in the token, or a file next to the development
 * key. It lets the station itself notice entries cut from the end of the chain.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as graphene from 'graphene-pk11';
import { z } from 'zod';
import { writeFileAtomically } from '../../db/private-files.ts';
import { KeyCustodyError } from './errors.ts';
import {
  createDevSigningKey,
  createMemorySigningKey,
  OpenedKeys,
  openDevSigningKey,
  Pkcs11SigningKey,
  publicKeyId,
  signingKeyInCustody,
  spkiPem,
  type SigningKey,
  type SigningKeySpec,
} from './signing-key.ts';

/** The latest audit head the station vouched for, outside the database. */
export interface AuditAnchor {
  seq: number;
  /** Hash of the audit entry at `seq` (hex). */
  hash: string;
  /** Signature of the anchor statement (base64, IEEE P1363 r‖s). */
  signature: string;
}

/** The signing half of the audit key plus its anchor store. */
export interface AuditKey {
  /** Where the private key lives: a PKCS#11 token, a development file, or memory (tests). */
  readonly kind: 'pkcs11' | 'dev-file' | 'memory';
  readonly stationId: string;
  readonly publicKey: KeyObject;
  /** ECDSA P-256 with SHA-256 over `data`; 64 bytes r‖s. */
  sign(data: Buffer): Buffer;
  /** The stored anchor; undefined if none was written yet. Throws if it is unreadable. */
  readAnchor(): AuditAnchor | undefined;
  writeAnchor(anchor: AuditAnchor): void;
  close(): void;
}

/** Label of the audit key pair in a token, and of its anchor data object. */
export const auditKeyLabel = (stationId: string): string => `audit/${stationId}`;
export const auditAnchorLabel = (stationId: string): string => `audit-anchor/${stationId}`;
/** The development audit key file and the anchor file, next to the development key file. */
export const DEV_AUDIT_KEY_FILE = 'dev-audit-key.json';
export const AUDIT_ANCHOR_FILE = 'audit-anchor.json';

const ANCHOR_FORMAT = 'perso-station/audit-anchor@1';
const anchorSchema = z.strictObject({
  format: z.literal(ANCHOR_FORMAT),
  stationId: z.string(),
  seq: z.number().int().min(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  signature: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/),
});

function anchorText(stationId: string, a: AuditAnchor): string {
  return JSON.stringify({ format: ANCHOR_FORMAT, stationId, ...a }) + '\n';
}

function parseAnchor(text: string, stationId: string, where: string): AuditAnchor {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KeyCustodyError('ANCHOR_INVALID', `the audit anchor in ${where} is not JSON`);
  }
  const r = anchorSchema.safeParse(json);
  if (!r.success)
    throw new KeyCustodyError(
      'ANCHOR_INVALID',
      `the audit anchor in ${where} is malformed (${r.error.issues[0]?.path.join('.') || 'root'})`,
    );
  if (r.data.stationId !== stationId)
    throw new KeyCustodyError(
      'ANCHOR_INVALID',
      `the audit anchor in ${where} belongs to station ${r.data.stationId}, not ${stationId}`,
    );
  return { seq: r.data.seq, hash: r.data.hash, signature: r.data.signature };
}

/** How custody keeps the audit key (./signing-key.ts). */
const auditKeySpec: SigningKeySpec = {
  name: 'audit',
  label: auditKeyLabel,
  devFile: DEV_AUDIT_KEY_FILE,
  devFormat: 'perso-station/dev-audit-key',
  missingCode: 'AUDIT_KEY_MISSING',
  missingHint: "a station set up before audit keys: run 'station audit enroll-key'",
  configNeed: 'the audit log is signed with the station audit key kept there',
  boundedDevFile: false,
  refuseEmptyPassphrase: true,
  detailedReadErrors: true,
  requireTokenObject: true,
  badPointMessage: 'the audit public key is not an uncompressed P-256 point',
};

/** The audit key's id: SHA-256 of its SubjectPublicKeyInfo DER, hex (as for manifest keys). */
export function auditKeyId(publicKey: KeyObject): string {
  return publicKeyId(publicKey);
}

/** Where an audit key keeps its anchor. */
interface AnchorStore {
  read(): AuditAnchor | undefined;
  write(anchor: AuditAnchor): void;
}

/** The anchor in a file (development key, or a memory key in tests). */
class FileAnchor implements AnchorStore {
  constructor(
    private readonly stationId: string,
    private readonly file: string,
  ) {}

  read(): AuditAnchor | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new KeyCustodyError(
        'ANCHOR_INVALID',
        `cannot read the audit anchor ${this.file}: ${(e as Error).message}`,
      );
    }
    return parseAnchor(text, this.stationId, this.file);
  }

  write(anchor: AuditAnchor): void {
    // After a power cut the previous anchor may be back: it points at an entry the database
    // already held (each anchor is written after its entry's commit), so the chain is never
    // shorter than it: no false truncation, only the last entries unanchored until the next.
    writeFileAtomically(this.file, anchorText(this.stationId, anchor), { durableRename: false });
  }
}

/** The anchor as a private data object in the token that holds the audit key. */
class TokenAnchor implements AnchorStore {
  constructor(private readonly key: Pkcs11SigningKey) {}

  private objects(): graphene.Data[] {
    const found = this.key.live().find({
      class: graphene.ObjectClass.DATA,
      label: auditAnchorLabel(this.key.stationId),
    });
    const out: graphene.Data[] = [];
    for (let i = 0; i < found.length; i++) out.push(found.items(i).toType<graphene.Data>());
    return out;
  }

  private parse(obj: graphene.Data): AuditAnchor {
    const value = obj.getAttribute({ value: null }).value as Buffer;
    return parseAnchor(
      Buffer.from(value).toString('utf8'),
      this.key.stationId,
      `token '${this.key.target.token}'`,
    );
  }

  read(): AuditAnchor | undefined {
    // Two objects only after a crash between writing the new anchor and removing the old one:
    // the newer (higher seq) counts.
    let best: AuditAnchor | undefined;
    for (const obj of this.objects()) {
      const a = this.parse(obj);
      if (!best || a.seq > best.seq) best = a;
    }
    return best;
  }

  write(anchor: AuditAnchor): void {
    // CKA_VALUE of a data object cannot be changed in every token (SoftHSM2 refuses): a new
    // object is created first, then the older ones are destroyed.
    const older = this.objects();
    this.key.live().create({
      class: graphene.ObjectClass.DATA,
      token: true,
      private: true,
      modifiable: false,
      label: auditAnchorLabel(this.key.stationId),
      application: 'perso-station',
      value: Buffer.from(anchorText(this.key.stationId, anchor), 'utf8'),
    });
    for (const obj of older) this.key.live().destroy(obj);
  }
}

/** A signing key in custody plus the anchor kept with it. */
class CustodyAuditKey implements AuditKey {
  readonly kind: AuditKey['kind'];
  readonly stationId: string;
  readonly publicKey: KeyObject;

  constructor(
    private readonly key: SigningKey,
    private readonly anchor: AnchorStore,
  ) {
    this.kind = key.kind;
    this.stationId = key.stationId;
    this.publicKey = key.publicKey;
  }

  sign(data: Buffer): Buffer {
    return this.key.sign(data);
  }

  readAnchor(): AuditAnchor | undefined {
    return this.anchor.read();
  }

  writeAnchor(anchor: AuditAnchor): void {
    this.anchor.write(anchor);
  }

  close(): void {
    this.key.close();
  }
}

const withAnchorFile = (key: SigningKey, dir: string): AuditKey =>
  new CustodyAuditKey(key, new FileAnchor(key.stationId, join(dir, AUDIT_ANCHOR_FILE)));

// --- development file and memory --------------------------------------------------------------

/** Creates `<dir>/dev-audit-key.json` holding a new audit key for `stationId`. */
export function createDevAuditKey(keyDir: string, stationId: string, passphrase: string): AuditKey {
  return withAnchorFile(createDevSigningKey(auditKeySpec, keyDir, stationId, passphrase), keyDir);
}

/** Opens the development audit key of `stationId` from `<dir>/dev-audit-key.json`. */
export function openDevAuditKey(keyDir: string, stationId: string, passphrase: string): AuditKey {
  return withAnchorFile(openDevSigningKey(auditKeySpec, keyDir, stationId, passphrase), keyDir);
}

/** A fresh audit key held in memory, its anchor in `<dataDir>/audit-anchor.json`: for tests
 * and benchmarks only (the key is gone when the process ends). */
export function createMemoryAuditKey(dataDir: string, stationId: string): AuditKey {
  return withAnchorFile(createMemorySigningKey(auditKeySpec, stationId), dataDir);
}

// --- the station's audit key ------------------------------------------------------------------

const opened = new OpenedKeys<AuditKey>();

/** Keeps `key` as the audit key of `dataDir` for this process. */
export function rememberAuditKey(dataDir: string, key: AuditKey): AuditKey {
  return opened.remember(dataDir, key);
}

/** Closes every audit key this process holds (end of process, or tests simulating one). */
export function forgetAuditKeys(): void {
  opened.forget();
}

function custodyAuditKey(
  dataDir: string,
  stationId: string,
  env: NodeJS.ProcessEnv,
  create: boolean,
): AuditKey {
  const key = signingKeyInCustody(auditKeySpec, dataDir, stationId, env, create);
  // The anchor is kept where the key is: in its token, or next to its development file.
  if (key instanceof Pkcs11SigningKey) return new CustodyAuditKey(key, new TokenAnchor(key));
  return withAnchorFile(key, key.devDir ?? dataDir);
}

/**
 * The audit key of the station in `dataDir`, from the key custody configured there (secrets from
 * `env`), or the one this process opened already.
 */
export function openAuditKey(
  dataDir: string,
  stationId: string,
  env: NodeJS.ProcessEnv = process.env,
): AuditKey {
  const known = opened.get(dataDir, stationId);
  if (known) return known;
  return rememberAuditKey(dataDir, custodyAuditKey(dataDir, stationId, env, false));
}

/** Generates the audit key of a new station in the key custody configured in `dataDir`.
 * Refuses when custody holds one for this station already. */
export function createAuditKey(
  dataDir: string,
  stationId: string,
  env: NodeJS.ProcessEnv = process.env,
): AuditKey {
  return rememberAuditKey(dataDir, custodyAuditKey(dataDir, stationId, env, true));
}

/** The audit public key in PEM form (for the central office). */
export function auditPublicKeyPem(key: AuditKey): string {
  return spkiPem(key.publicKey);
}
