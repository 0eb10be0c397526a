/**
 * Reads a personalized chip the way a border inspection system does, and checks it: BAC with
 * the MRZ read from the data page, EF.COM, every data group and EF.SOD under secure messaging,
 * passive authentication against the CSCA, DG1 equal to the MRZ, and Active Authentication
 * with a fresh random challenge against DG15. Reports every check by name.
 */
import { randomBytes } from 'node:crypto';
import { type Apdu, decodeApdu, decodeResponse, encodeApdu, swHex } from '../iso7816/apdu.ts';
import { aaVerify } from './active-auth.ts';
import { BacTerminal, bacKeys, mrzInformationOf } from './bac.ts';
import { ChipIo, type ChipIoStats, type Transceive } from './chip-io.ts';
import { EMRTD_AID } from './chip.ts';
import { dg1, dg15, efCom, fileIdentifier } from './lds.ts';
import { type PaReport, passiveAuthentication } from './passive-auth.ts';
import { SmTerminal } from './secure-messaging.ts';
import { type ParsedSod, parseSod } from './sod.ts';

export interface BorderCheck {
  /** Stable identifier: `bac`, `read.DG2`, `pa.dg.2.hash`, `dg1.mrz`, `aa`, ... */
  id: string;
  ok: boolean;
  detail: string;
}

export interface BorderReport {
  ok: boolean;
  checks: BorderCheck[];
  /** Identifiers of the checks that failed, in order. */
  failed: string[];
  /** The LDS files read, by name (`EF.COM`, `DG1`, ..., `EF.SOD`), exact chip bytes. */
  files: Map<string, Buffer>;
  passiveAuthentication?: PaReport;
  stats: ChipIoStats;
}

export interface BorderReadOptions {
  /** Sends one raw command APDU to the chip, resolves with the raw response. */
  transceive: Transceive;
  /** The MRZ as read from the data page (two lines, or the 88 characters). */
  mrz: string;
  /** Trusted CSCA certificates (PEM or DER). */
  cscas: (string | Uint8Array)[];
  /** Try extended-length READ BINARY (the chip's ATS says so); a `6700` falls back to short. */
  extendedLength?: boolean;
  /** Largest Le of one extended READ BINARY (default 4096). */
  maxExtendedRead?: number;
  /** A chip without DG15 fails the `aa` check (default true: our booklets all have AA). */
  requireActiveAuthentication?: boolean;
  /** Certificate validity reference time (default now). */
  at?: Date;
  /**
   * Most protected READ BINARYs of one file sent at once, once its length is known (default 4,
   * as the chip writes): the device runs them in order, the answers are checked in order. A
   * chip whose 61xx answers reach the reader (an encoder that only relays them, not one that
   * collects them itself: docs/protocol.md, TRANSCEIVE_COLLECT) is read one command at a time.
   */
  window?: number;
}

/** Largest Le whose protected answer (DO87 + DO99 + DO8E) fits a short response. */
const SHORT_SM_READ = 231;

class SessionLost extends Error {}

/** Length of a BER-TLV file from its first bytes, or undefined when more bytes are needed. */
function tlvTotalLength(head: Buffer): number | undefined {
  let i = 1;
  if (head.length < 1) return undefined;
  if ((head[0]! & 0x1f) === 0x1f) {
    while (i < head.length && head[i]! & 0x80) i++;
    i++;
  }
  if (head.length <= i) return undefined;
  const first = head[i]!;
  if (first < 0x80) return i + 1 + first;
  const n = first & 0x7f;
  if (n < 1 || n > 3) throw new Error(`file starts with a length of ${n} bytes`);
  if (head.length < i + 1 + n) return undefined;
  return i + 1 + n + head.readUIntBE(i + 1, n);
}

/** Reads and checks a chip as a border reader would; never throws for what the chip does. */
export async function readAsBorder(opts: BorderReadOptions): Promise<BorderReport> {
  const io = new ChipIo(opts.transceive);
  const checks: BorderCheck[] = [];
  const files = new Map<string, Buffer>();
  const add = (id: string, ok: boolean, detail: string): boolean => {
    checks.push({ id, ok, detail });
    return ok;
  };
  const report = (pa?: PaReport): BorderReport => {
    const failed = checks.filter((c) => !c.ok).map((c) => c.id);
    return {
      ok: checks.length > 0 && failed.length === 0,
      checks,
      failed,
      files,
      ...(pa ? { passiveAuthentication: pa } : {}),
      stats: { ...io.stats },
    };
  };
  const plain = async (a: Apdu) => decodeResponse(await io.exchange(encodeApdu(a)));

  try {
    // BAC (Doc 9303 Part 11 section 4.3).
    let mrzInformation: string;
    try {
      mrzInformation = mrzInformationOf(opts.mrz);
    } catch (e) {
      add('bac', false, `the MRZ gives no access key: ${(e as Error).message}`);
      return report();
    }
    const sel = await plain({ cla: 0, ins: 0xa4, p1: 4, p2: 0x0c, data: Buffer.from(EMRTD_AID) });
    if (!add('select-application', sel.sw === 0x9000, `SELECT eMRTD application: ${swHex(sel.sw)}`))
      return report();
    const challenge = await plain({ cla: 0, ins: 0x84, p1: 0, p2: 0, le: 8 });
    if (challenge.sw !== 0x9000 || challenge.data.length !== 8) {
      add('bac', false, `GET CHALLENGE answered ${swHex(challenge.sw)}`);
      return report();
    }
    const terminal = new BacTerminal(bacKeys(mrzInformation), challenge.data);
    const ea = await plain({
      cla: 0,
      ins: 0x82,
      p1: 0,
      p2: 0,
      data: terminal.externalAuthenticateData(),
      le: 40,
    });
    let sm: SmTerminal;
    try {
      if (ea.sw !== 0x9000)
        throw new Error(
          `EXTERNAL AUTHENTICATE answered ${swHex(ea.sw)}${ea.sw === 0x6300 ? ': the MRZ does not open this chip' : ''}`,
        );
      sm = new SmTerminal(terminal.complete(ea.data));
      add('bac', true, 'BAC with the MRZ: secure messaging established');
    } catch (e) {
      add('bac', false, (e as Error).message);
      return report();
    }

    /** A protected answer verified and decrypted; SessionLost when secure messaging broke. */
    const unwrapped = (raw: Buffer) => {
      try {
        const r = decodeResponse(sm.unwrapResponse(raw));
        if (r.sw === 0x6987 || r.sw === 0x6988)
          throw new Error(`the chip ended secure messaging (${swHex(r.sw)})`);
        return r;
      } catch (e) {
        throw new SessionLost((e as Error).message);
      }
    };
    // Secure messaging exchanges; `undefined` when the chip refused an extended APDU's length.
    const protectedExchange = async (a: Apdu) => {
      const ssc = sm.ssc;
      const wrapped = sm.wrap(encodeApdu(a));
      const raw = await io.exchange(wrapped);
      if (raw.length === 2 && raw.readUInt16BE(0) === 0x6700 && decodeApdu(wrapped).extended) {
        sm.rewind(ssc);
        return undefined;
      }
      return unwrapped(raw);
    };
    let extended = opts.extendedLength ?? false;
    const maxExt = opts.maxExtendedRead ?? 4096;
    const window = Math.max(1, Math.floor(opts.window ?? 4));

    /**
     * READ BINARYs sent together under secure messaging: each command wrapped with the counter
     * it would have one at a time (every command and every answer moves it by one), the answers
     * unwrapped in order. Leaves the counter where the same reads one by one would.
     */
    const pipelinedReads = async (reads: { offset: number; le: number }[]) => {
      const base = sm.ssc.readBigUInt64BE();
      const ssc = (n: number): Buffer => {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE((base + BigInt(n)) & 0xffffffffffffffffn);
        return b;
      };
      const wrapped = reads.map(({ offset, le }, k) => {
        sm.rewind(ssc(2 * k));
        return sm.wrap(encodeApdu({ cla: 0, ins: 0xb0, p1: offset >> 8, p2: offset & 0xff, le }));
      });
      let raws: Buffer[];
      try {
        raws = await io.pipeline(wrapped);
      } catch (e) {
        // An answer announced with 61xx was lost: the counters no longer agree.
        throw new SessionLost((e as Error).message);
      }
      return raws.map((raw, k) => {
        sm.rewind(ssc(2 * k + 1));
        return unwrapped(raw);
      });
    };

    const readFile = async (name: string): Promise<Buffer> => {
      const fid = fileIdentifier(name);
      const s = await protectedExchange({
        cla: 0,
        ins: 0xa4,
        p1: 2,
        p2: 0x0c,
        data: Buffer.from([fid >> 8, fid & 0xff]),
      });
      if (!s || s.sw !== 0x9000) throw new Error(`SELECT answered ${swHex(s?.sw ?? 0x6700)}`);
      const parts: Buffer[] = [];
      let got = 0;
      let total: number | undefined;
      while (total === undefined || got < total) {
        if (got > 0x7fff) throw new Error(`file runs past offset 32767`);
        const chunk = extended ? maxExt : SHORT_SM_READ;
        if (total !== undefined && total - got > chunk && window > 1 && !io.answersVia61) {
          // The rest of a file of known length: several reads at once.
          const reads: { offset: number; le: number }[] = [];
          for (let o = got; o < total && o <= 0x7fff && reads.length < window; o += chunk)
            reads.push({ offset: o, le: Math.min(chunk, total - o) });
          const answers = await pipelinedReads(reads);
          answers.forEach((r, k) => {
            const { offset, le } = reads[k]!;
            if (r.sw !== 0x9000 || r.data.length !== le)
              throw new Error(
                `READ BINARY at offset ${offset} answered ${swHex(r.sw)} with ${r.data.length} of ${le} bytes`,
              );
          });
          for (const r of answers) parts.push(r.data);
          got += answers.reduce((n, r) => n + r.data.length, 0);
          continue;
        }
        let le = total === undefined ? chunk : Math.min(chunk, total - got);
        const read = (n: number) =>
          protectedExchange({ cla: 0, ins: 0xb0, p1: got >> 8, p2: got & 0xff, le: n });
        let r = await read(le);
        if (!r) {
          extended = false; // announced but refused: short reads from now on
          continue;
        }
        if ((r.sw & 0xff00) === 0x6c00) {
          // Wrong Le: the chip says how many bytes it has there; ask again for exactly that.
          le = r.sw & 0xff || 256;
          r = await read(le);
          if (!r) throw new Error('chip refused a short READ BINARY length');
        }
        if (r.sw !== 0x9000 && r.sw !== 0x6282)
          throw new Error(`READ BINARY at offset ${got} answered ${swHex(r.sw)}`);
        if (r.data.length === 0) break;
        parts.push(r.data);
        got += r.data.length;
        total ??= tlvTotalLength(Buffer.concat(parts));
        if (r.sw === 0x6282) break; // end of file reached
      }
      const data = Buffer.concat(parts);
      if (total === undefined || data.length !== total)
        throw new Error(`file ends after ${data.length} bytes, its TLV says ${total ?? 'nothing'}`);
      return data;
    };
    const tryRead = async (name: string): Promise<Buffer | undefined> => {
      try {
        const data = await readFile(name);
        files.set(name, data);
        add(`read.${name}`, true, `${data.length} bytes`);
        return data;
      } catch (e) {
        if (e instanceof SessionLost) throw e;
        add(`read.${name}`, false, (e as Error).message);
        return undefined;
      }
    };

    const com = await tryRead('EF.COM');
    const listed = new Set<number>();
    if (com)
      try {
        for (const n of efCom.decode(com).dataGroups) listed.add(n);
      } catch (e) {
        add('com.structure', false, `EF.COM unreadable: ${(e as Error).message}`);
      }
    const sod = await tryRead('EF.SOD');
    let parsedSod: ParsedSod | undefined;
    if (sod)
      try {
        parsedSod = parseSod(sod);
        for (const n of parsedSod.dataGroupHashes.keys()) listed.add(n);
      } catch {
        // Passive authentication names what is wrong with the SOD.
      }
    listed.add(1);
    for (const n of [...listed].sort((a, b) => a - b)) await tryRead(`DG${n}`);

    // Passive authentication (Part 11 section 5.1): every one of its checks, by name.
    const pa = await passiveAuthentication({
      files,
      cscas: opts.cscas,
      printedMrz: opts.mrz,
      ...(opts.at ? { at: opts.at } : {}),
      ...(parsedSod ? { parsedSod } : {}),
    });
    for (const c of pa.checks) add(`pa.${c.id}`, c.ok, c.detail);

    // DG1 equals the MRZ the reader used.
    const d1 = files.get('DG1');
    const printed = opts.mrz.replace(/\r?\n/g, '').trim();
    let chipMrz: string | undefined;
    try {
      chipMrz = d1 ? dg1.decode(d1) : undefined;
    } catch {
      chipMrz = undefined;
    }
    add(
      'dg1.mrz',
      chipMrz === printed,
      chipMrz === undefined
        ? 'DG1 was not read or is unreadable'
        : chipMrz === printed
          ? 'DG1 equals the MRZ'
          : 'DG1 differs from the MRZ',
    );

    // Active Authentication (Part 11 section 6.1) with a fresh challenge.
    const d15 = files.get('DG15');
    if (!d15) {
      const offered = listed.has(15);
      const required = opts.requireActiveAuthentication ?? true;
      add(
        'aa',
        !offered && !required,
        offered ? 'DG15 is listed but was not read' : 'the chip has no DG15 (no AA key)',
      );
    } else {
      const nonce = randomBytes(8);
      const r = await protectedExchange({ cla: 0, ins: 0x88, p1: 0, p2: 0, data: nonce, le: 256 });
      if (!r || r.sw !== 0x9000)
        add('aa', false, `INTERNAL AUTHENTICATE answered ${swHex(r?.sw ?? 0x6700)}`);
      else {
        let spki: Buffer | undefined;
        try {
          spki = dg15.decode(d15);
        } catch (e) {
          add('aa', false, `DG15 unreadable: ${(e as Error).message}`);
        }
        if (spki) {
          const v = aaVerify(spki, nonce, r.data);
          add(
            'aa',
            v.ok,
            v.ok ? 'the chip signed our challenge with the DG15 key' : (v.reason ?? 'failed'),
          );
        }
      }
    }
    return report(pa);
  } catch (e) {
    if (e instanceof SessionLost) {
      add('secure-messaging', false, e.message);
      return report();
    }
    throw e;
  }
}

/**
 * The chip's file system as read, one `<file>.bin` per LDS file (the names `station lds build`
 * uses), EF.COM first and EF.SOD last: what `station simulator --dump` writes.
 */
export function chipFileSystemDump(
  files: Map<string, Uint8Array>,
): { name: string; data: Buffer }[] {
  const rank = (n: string): number =>
    n === 'EF.CardAccess' ? 0 : n === 'EF.COM' ? 1 : n === 'EF.SOD' ? 100 : 1 + Number(n.slice(2));
  return [...files.entries()]
    .map(([n, d]) => {
      fileIdentifier(n); // refuses a name that is not an LDS file
      return { file: n, name: `${n}.bin`, data: Buffer.from(d) };
    })
    .sort((a, b) => rank(a.file) - rank(b.file))
    .map(({ name, data }) => ({ name, data }));
}
