/**
 * Reading files whose size someone else chose: the size is checked (fstat) before anything is
 * read, and the read itself stops one byte past the limit, so a file that grows between the
 * check and the read, or a pipe with no size, cannot make the station read more than the limit.
 * Every layer reads its input files through here (docs/architecture.md).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** A file (or stream) larger than the limit for what it is; nothing of it was used. */
export class InputTooLargeError extends Error {
  constructor(
    readonly what: string,
    readonly limit: number,
    readonly size: number | undefined,
  ) {
    super(
      `${what} is too large: ${size === undefined ? `more than ${formatBytes(limit)}` : formatBytes(size)} (the limit is ${formatBytes(limit)})`,
    );
    this.name = 'InputTooLargeError';
  }
}

/** Input that is not UTF-8 text where text was expected. */
export class InputNotTextError extends Error {
  constructor(readonly what: string) {
    super(`${what} is not UTF-8 text`);
    this.name = 'InputNotTextError';
  }
}

/** A byte count for people: `512 bytes`, `64 KiB`, `32 MiB`, `1.5 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const [value, unit] = n < 1024 * 1024 ? [n / 1024, 'KiB'] : [n / (1024 * 1024), 'MiB'];
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
}

/**
 * Reads a whole file of at most `maxBytes` bytes. `what` names it in errors, e.g.
 * `manifest /tmp/m.json`. Open errors (ENOENT, EACCES...) are thrown as Node gives them.
 */
export function readBoundedFile(path: string, maxBytes: number, what = `file ${path}`): Buffer {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    // A regular file says its size: refuse it before reading a byte.
    if (st.isFile() && st.size > maxBytes) throw new InputTooLargeError(what, maxBytes, st.size);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, maxBytes + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > maxBytes) throw new InputTooLargeError(what, maxBytes, undefined);
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** Decodes UTF-8 strictly: a malformed byte sequence is an error, not a U+FFFD. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new InputNotTextError(what);
  }
}

/** Reads a UTF-8 text file of at most `maxBytes` bytes. */
export function readBoundedText(path: string, maxBytes: number, what = `file ${path}`): string {
  return decodeUtf8(readBoundedFile(path, maxBytes, what), what);
}

/** Reads a stream (stdin) to its end, refusing it once it passes `maxBytes`. */
export async function readBoundedStream(
  stream: AsyncIterable<unknown>,
  maxBytes: number,
  what: string,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    total += b.length;
    if (total > maxBytes) throw new InputTooLargeError(what, maxBytes, undefined);
    chunks.push(b);
  }
  return Buffer.concat(chunks, total);
}
