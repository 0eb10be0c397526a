/**
 * Files only the station's own user may read: the database (PIN hashes, the ledger), its WAL
 * and shared-memory files, backups, private keys and the key-custody configuration are 0600,
 * the data directory 0700. Created that way whatever the process umask, and checked when
 * opened: a looser mode on a file this user owns is tightened and reported (a process warning
 * with code PERSO_STATION_FILE_MODE); on a file another user owns it is refused, since this
 * user cannot fix it and must not trust it.
 *
 * Important files are written atomically: a temporary file in the same directory, written and
 * fsynced, then renamed (or linked, when the file must not exist yet) over the final name,
 * and the directory fsynced, so a crash leaves the old file or the new one, never half of one.
 *
 * It lives in db/ because db/open.ts is the lowest layer that needs it; station/ and cli/ use
 * it too. POSIX modes mean nothing on Windows, where the checks are skipped.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** The warning code of a mode this process tightened. */
export const FILE_MODE_WARNING = 'PERSO_STATION_FILE_MODE';

const posix = process.platform !== 'win32';

/** A private file or directory is open to other users and belongs to someone else. */
export class PrivateFileModeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrivateFileModeError';
  }
}

const octal = (mode: number): string => '0' + (mode & 0o777).toString(8).padStart(3, '0');

/**
 * Checks that `path` (if it exists) gives other users no access beyond `mode`. Tightens it if
 * this user owns it, with a warning naming the file and both modes; refuses otherwise.
 * Returns whether it changed anything.
 */
export function ensurePrivateMode(path: string, mode: number, what: string): boolean {
  if (!posix) return false;
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  const extra = st.mode & 0o777 & ~mode;
  if (extra === 0) return false;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid)
    throw new PrivateFileModeError(
      `${what} ${path} has mode ${octal(st.mode)}, open to other users, and belongs to user ${st.uid}, not to this one: ` +
        `refusing to use it (its owner must run "chmod ${octal(mode)} ${path}")`,
    );
  chmodSync(path, st.mode & 0o777 & mode);
  process.emitWarning(
    `${what} ${path} had mode ${octal(st.mode)}, open to other users; it is now ${octal(st.mode & mode)}`,
    { code: FILE_MODE_WARNING },
  );
  return true;
}

/** Creates `dir` (and missing parents) as 0700, or checks an existing one like ensurePrivateMode. */
export function ensurePrivateDir(dir: string, what = 'the data directory'): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  ensurePrivateMode(dir, PRIVATE_DIR_MODE, what);
}

/** Creates an empty 0600 file unless `path` exists; true if it made one. */
export function createPrivateFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', PRIVATE_FILE_MODE);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    if (posix) fchmodSync(fd, PRIVATE_FILE_MODE); // whatever the umask took away or left
  } finally {
    closeSync(fd);
  }
  return true;
}

/** fsyncs a directory so a rename or link in it survives a crash (not possible on Windows). */
export function fsyncDir(dir: string): void {
  if (!posix) return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A fresh temporary name next to `path`, for a file that replaces it. */
export function temporaryNameFor(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
}

export interface AtomicWriteOptions {
  /** Mode of the file (default 0600), exactly, whatever the umask. */
  mode?: number;
  /** Refuse if `path` exists (EEXIST), atomically: the file appears complete or not at all. */
  exclusive?: boolean;
  /**
   * Whether the rename itself must survive a power cut (the directory fsynced after it; default
   * true). Without it a power cut can bring back the previous file, whole, never a torn or empty
   * one (the data is fsynced before the rename). For a file that is rewritten often and whose
   * previous version is an acceptable state after a power cut: the audit anchor.
   */
  durableRename?: boolean;
}

/**
 * Writes `data` to `path` atomically: temporary file (mode set, written, fsynced), then
 * rename over `path`, or link to `path` when exclusive (link fails if `path` exists, so two
 * creators cannot both win), then the directory fsynced (unless `durableRename: false`). A
 * replaced file gets the new mode:
 * it is a new file. On failure nothing is left but what was there before.
 */
export function writeFileAtomically(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): void {
  const mode = options.mode ?? PRIVATE_FILE_MODE;
  const tmp = temporaryNameFor(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    try {
      if (posix) fchmodSync(fd, mode);
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (options.exclusive) linkSync(tmp, path);
    else renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
  if (options.durableRename !== false || options.exclusive) fsyncDir(dirname(path));
}
