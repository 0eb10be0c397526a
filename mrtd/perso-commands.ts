/**
 * The chip's personalization, host side: a pure builder of the command sequence (select the
 * eMRTD application, CREATE FILE and UPDATE BINARY for every LDS file, PUT DATA of the BAC key
 * seed and the Active Authentication private key, PUT DATA of the life cycle: locked), and a
 * runner that sends it under the open SCP03 channel in the fewest, largest APDUs the chip takes
 * (docs/personalization-chip.md).
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { type Apdu, decodeApdu, decodeResponse, encodeApdu, swHex } from '../iso7816/apdu.ts';
import { bacKeys, mrzInformationOf } from './bac.ts';
import { ChipIo, type ChipIoStats, type Transceive } from './chip-io.ts';
import { EMRTD_AID, LIFE_CYCLE_TAG } from './chip.ts';
import { dg1, dg15, fileIdentifier } from './lds.ts';
import { type Scp03Host, SecurityLevel } from './scp03.ts';
import { tlv } from './tlv.ts';

/** PUT DATA P1-P2 of the personalization command set (docs/chip.md). */
export const PersoDataTag = {
  BAC_KEY_SEED: 0x0062,
  AA_PRIVATE_KEY: 0x0063,
  LIFE_CYCLE: LIFE_CYCLE_TAG,
} as const;

/** Largest file the chip takes: offsets travel in P1-P2 with the top bit clear (0..32767). */
export const MAX_FILE_SIZE = 0x8000;

/** A personalization input that cannot be written, naming what is wrong. Nothing was sent. */
export class PersoInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PersoInputError';
  }
}

export interface PersoInput {
  /** LDS files by name (`EF.COM`, `DG1`, ..., `EF.SOD`): the exact chip bytes (mrtd/application.ts). */
  files: Map<string, Uint8Array>;
  /** The Active Authentication private key matching DG15 (PKCS #8 DER or a key object). */
  activeAuthenticationKey?: KeyObject | Uint8Array;
  /** When given, must equal the MRZ information of DG1 (a cross-check of the caller's data). */
  mrzInformation?: string;
}

export type PersoStep =
  | { kind: 'select-application'; what: string; apdu: Apdu }
  | { kind: 'create-file'; what: string; file: string; fid: number; size: number; apdu: Apdu }
  | { kind: 'write-file'; what: string; file: string; fid: number; data: Buffer }
  | { kind: 'put-data'; what: string; tag: number; apdu: Apdu }
  | { kind: 'lock'; what: string; apdu: Apdu };

/** Files in the order they are written: EF.CardAccess, EF.COM, DG1..DG16, EF.SOD last. */
function fileRank(name: string): number {
  if (name === 'EF.CardAccess') return 0;
  if (name === 'EF.COM') return 1;
  if (name === 'EF.SOD') return 100;
  return 1 + Number(name.slice(2));
}

function aaKeyObject(k: KeyObject | Uint8Array): KeyObject {
  if (!(k instanceof Uint8Array)) return k;
  try {
    return createPrivateKey({ key: Buffer.from(k), format: 'der', type: 'pkcs8' });
  } catch (e) {
    throw new PersoInputError(
      `Active Authentication key is not a PKCS #8 private key: ${(e as Error).message}`,
    );
  }
}

/**
 * The personalization command sequence for one chip, checked before a byte is written: every
 * file named and sized for the chip, EF.COM, DG1 and EF.SOD present, the BAC key seed from
 * DG1's MRZ, the AA private key present exactly when DG15 is and matching it. Lock is last.
 */
export function personalizationSteps(input: PersoInput): PersoStep[] {
  const files = [...input.files.entries()];
  for (const required of ['EF.COM', 'DG1', 'EF.SOD'])
    if (!input.files.has(required)) throw new PersoInputError(`${required} is missing`);
  for (const [name, data] of files) {
    try {
      fileIdentifier(name);
    } catch {
      throw new PersoInputError(`${name} is not an LDS file`);
    }
    if (data.length === 0) throw new PersoInputError(`${name} is empty`);
    if (data.length > MAX_FILE_SIZE)
      throw new PersoInputError(
        `${name} has ${data.length} bytes, more than the chip's ${MAX_FILE_SIZE}`,
      );
  }
  let mrz: string;
  try {
    mrz = dg1.decode(input.files.get('DG1')!);
  } catch (e) {
    throw new PersoInputError(`DG1 is unreadable: ${(e as Error).message}`);
  }
  let info: string;
  try {
    info = mrzInformationOf(mrz);
  } catch (e) {
    throw new PersoInputError(`DG1 MRZ gives no BAC key: ${(e as Error).message}`);
  }
  if (input.mrzInformation !== undefined && input.mrzInformation !== info)
    throw new PersoInputError('the MRZ information given differs from the one in DG1');

  const dg15File = input.files.get('DG15');
  let aaKeyDer: Buffer | undefined;
  if (dg15File && !input.activeAuthenticationKey)
    throw new PersoInputError('DG15 is present but no Active Authentication private key is given');
  if (input.activeAuthenticationKey) {
    if (!dg15File)
      throw new PersoInputError('an Active Authentication key is given but there is no DG15');
    const key = aaKeyObject(input.activeAuthenticationKey);
    const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
    if (!spki.equals(dg15.decode(dg15File)))
      throw new PersoInputError('the Active Authentication key is not the key of DG15');
    aaKeyDer = key.export({ type: 'pkcs8', format: 'der' });
  }

  const steps: PersoStep[] = [
    {
      kind: 'select-application',
      what: 'SELECT the eMRTD application',
      apdu: { cla: 0, ins: 0xa4, p1: 0x04, p2: 0x0c, data: Buffer.from(EMRTD_AID) },
    },
  ];
  files.sort(([a], [b]) => fileRank(a) - fileRank(b));
  for (const [name, bytes] of files) {
    const fid = fileIdentifier(name);
    const size = bytes.length;
    const fcp = tlv(0x62, [
      tlv(0x80, Buffer.from([size >> 8, size & 0xff])),
      tlv(0x83, Buffer.from([fid >> 8, fid & 0xff])),
    ]);
    steps.push(
      {
        kind: 'create-file',
        what: `CREATE FILE ${name}`,
        file: name,
        fid,
        size,
        apdu: { cla: 0, ins: 0xe0, p1: 0, p2: 0, data: fcp },
      },
      {
        kind: 'write-file',
        what: `UPDATE BINARY ${name}`,
        file: name,
        fid,
        data: Buffer.from(bytes),
      },
    );
  }
  steps.push({
    kind: 'put-data',
    what: 'PUT DATA BAC key seed',
    tag: PersoDataTag.BAC_KEY_SEED,
    apdu: putData(PersoDataTag.BAC_KEY_SEED, bacKeys(info).kSeed),
  });
  if (aaKeyDer)
    steps.push({
      kind: 'put-data',
      what: 'PUT DATA Active Authentication key',
      tag: PersoDataTag.AA_PRIVATE_KEY,
      apdu: putData(PersoDataTag.AA_PRIVATE_KEY, aaKeyDer),
    });
  steps.push({
    kind: 'lock',
    what: 'PUT DATA life cycle: locked',
    apdu: putData(PersoDataTag.LIFE_CYCLE, Buffer.from([0x01])),
  });
  return steps;
}

function putData(tag: number, data: Buffer): Apdu {
  return { cla: 0, ins: 0xda, p1: tag >> 8, p2: tag & 0xff, data };
}

/** The UPDATE BINARY commands writing `step` from `from` on, `maxData` bytes each at most. */
export function updateBinaryApdus(
  step: Extract<PersoStep, { kind: 'write-file' }>,
  maxData: number,
  from = 0,
): Apdu[] {
  if (!Number.isInteger(maxData) || maxData < 1) throw new RangeError(`chunk of ${maxData} bytes`);
  const out: Apdu[] = [];
  for (let p = from; p < step.data.length; p += maxData)
    out.push({
      cla: 0,
      ins: 0xd6,
      p1: p >> 8,
      p2: p & 0xff,
      data: step.data.subarray(p, p + maxData),
    });
  return out;
}

/** The whole sequence as plain APDUs, files cut into `maxData`-byte UPDATE BINARY chunks. */
export function personalizationApdus(steps: PersoStep[], maxData: number): Apdu[] {
  return steps.flatMap((s) => (s.kind === 'write-file' ? updateBinaryApdus(s, maxData) : [s.apdu]));
}

// ---------------------------------------------------------------------------------------------
// The runner

export interface PersoRunOptions {
  /** Sends one raw command APDU, resolves with the raw response (e.g. the encoder's transmit). */
  transceive: Transceive;
  /** The SCP03 channel intake opened (IntakeClearance.channel); every command goes through it. */
  channel: Scp03Host;
  /**
   * Whether to try extended-length APDUs: the chip announces them in its ATS
   * (`atsSupportsExtendedLength`). A chip that then answers `6700` to one is written with short
   * APDUs from that command on.
   */
  extendedLength: boolean;
  /** Largest command data (Lc) of one extended APDU, protection included (default 4096). */
  maxExtendedData?: number;
  /**
   * UPDATE BINARY commands of one file outstanding at once (default 4; 1 = one at a time). Used
   * only once the chip's answers have come whole (no 61xx reached the host: a chip that answers
   * directly, or an encoder that collects 61xx answers itself).
   */
  window?: number;
  /** Called (and awaited) before each step reaches the chip: the job journals it here. */
  beforeStep?: (step: PersoStep, index: number) => void | Promise<void>;
}

export interface PersoRunResult extends ChipIoStats {
  /** Whether extended-length APDUs carried the writes (false after a fallback). */
  extendedLength: boolean;
  /** The chip announced extended length but refused it (6700): written with short APDUs. */
  fellBackToShort: boolean;
  /** Commands outstanding at once that were used for UPDATE BINARY. */
  window: number;
}

/** A personalization command the chip refused; the booklet is spoiled from the first write. */
export class PersoWriteError extends Error {
  constructor(
    readonly step: PersoStep,
    readonly stepIndex: number,
    readonly sw: number | undefined,
    detail: string,
    readonly stats: ChipIoStats,
  ) {
    super(`${step.what} failed: ${detail}`);
    this.name = 'PersoWriteError';
  }
}

const SHORT_LC = 255;
const C_DECRYPTION = 0x02;

/** Largest plain data that fits `lc` bytes once SCP03 pads, encrypts and MACs it. */
export function scp03PlainCapacity(lc: number, securityLevel: number): number {
  const room = lc - 8; // C-MAC
  if (!(securityLevel & C_DECRYPTION)) return room;
  return Math.floor(room / 16) * 16 - 1; // ISO padding adds 1..16 bytes
}

interface Answer {
  sw: number;
  data: Buffer;
}

/**
 * Runs the personalization sequence over the SCP03 channel. Every answer's R-MAC is checked.
 * UPDATE BINARY goes in the largest chunks the chip takes: extended length when announced (the
 * first extended command is a probe: a `6700` answered before secure messaging rewinds the
 * channel and switches to short APDUs), else short APDUs; a PUT DATA too long for one short
 * APDU goes as a command chain. Throws PersoWriteError naming the first command refused.
 */
export async function runPersonalization(
  steps: PersoStep[],
  opts: PersoRunOptions,
): Promise<PersoRunResult> {
  const channel = opts.channel;
  const level = channel.securityLevel || SecurityLevel.C_DECRYPTION_C_MAC_R_MAC;
  const io = new ChipIo(opts.transceive);
  const maxExt = Math.min(opts.maxExtendedData ?? 4096, 65535);
  const wantWindow = Math.max(1, Math.floor(opts.window ?? 4));
  let extended = opts.extendedLength;
  let extendedConfirmed = false;
  let fellBack = false;
  let usedWindow = 1;

  /** Wraps and sends one plain command; `undefined` when the chip refused its length unprocessed. */
  const send = async (plain: Apdu): Promise<Answer | undefined> => {
    const before = channel.state();
    const wrapped = channel.wrap(encodeApdu(plain));
    const after = channel.state();
    const raw = await io.exchange(wrapped);
    if (raw.length === 2 && raw.readUInt16BE(0) === 0x6700 && decodeApdu(wrapped).extended) {
      // Refused by the chip's transport layer, before secure messaging: nothing moved there.
      channel.rewind(before);
      return undefined;
    }
    return decodeResponse(channel.unwrapResponseAt(raw, after));
  };

  const fail = (step: PersoStep, i: number, sw: number | undefined, detail: string): never => {
    throw new PersoWriteError(step, i, sw, detail, { ...io.stats });
  };

  const writeFile = async (step: Extract<PersoStep, { kind: 'write-file' }>, i: number) => {
    let pos = 0;
    while (pos < step.data.length) {
      const lc = extended ? maxExt : SHORT_LC;
      const chunk = scp03PlainCapacity(lc, level);
      if (
        extended &&
        !extendedConfirmed &&
        step.data.length - pos > scp03PlainCapacity(SHORT_LC, level)
      ) {
        // The probe is the smallest extended APDU: a chip that refuses it wastes few bytes.
        const probe = scp03PlainCapacity(SHORT_LC + 16, level);
        const [first] = updateBinaryApdus(step, probe, pos);
        const a = await send(first!);
        if (!a) {
          extended = false;
          fellBack = true;
          continue;
        }
        extendedConfirmed = true;
        if (a.sw !== 0x9000) fail(step, i, a.sw, `status ${swHex(a.sw)} at offset ${pos}`);
        pos += first!.data!.length;
        continue;
      }
      // Pipeline only a chip seen to answer directly: a 61xx answer would be lost.
      const window = io.stats.apdus > 0 && !io.answersVia61 ? wantWindow : 1;
      const batch = updateBinaryApdus(step, chunk, pos).slice(0, window);
      if (batch.length === 1) {
        const a = await send(batch[0]!);
        if (!a) fail(step, i, 0x6700, `status 6700 at offset ${pos}`);
        else if (a.sw !== 0x9000) fail(step, i, a.sw, `status ${swHex(a.sw)} at offset ${pos}`);
        pos += batch[0]!.data!.length;
        continue;
      }
      usedWindow = Math.max(usedWindow, batch.length);
      const wrapped = batch.map((c) => {
        const apdu = channel.wrap(encodeApdu(c));
        return { c, apdu, after: channel.state() };
      });
      const answers = await io.pipeline(wrapped.map((w) => w.apdu));
      // Check every answer in order (each R-MAC chains on its own command's state).
      let firstError: { sw: number; at: number } | undefined;
      wrapped.forEach((w, k) => {
        const a = decodeResponse(channel.unwrapResponseAt(answers[k]!, w.after));
        const at = (w.c.p1 << 8) | w.c.p2;
        if (a.sw !== 0x9000 && !firstError) firstError = { sw: a.sw, at };
      });
      if (firstError)
        fail(step, i, firstError.sw, `status ${swHex(firstError.sw)} at offset ${firstError.at}`);
      for (const c of batch) pos += c.data!.length;
    }
  };

  /** PUT DATA or CREATE FILE: one APDU, or a chain of short ones when too long and not extended. */
  const single = async (step: PersoStep & { apdu: Apdu }, i: number) => {
    const data = step.apdu.data ?? Buffer.alloc(0);
    const shortCap = scp03PlainCapacity(SHORT_LC, level);
    if (data.length > shortCap && extended) {
      const a = await send(step.apdu);
      if (a) {
        extendedConfirmed = true;
        if (a.sw !== 0x9000) fail(step, i, a.sw, `status ${swHex(a.sw)}`);
        return;
      }
      extended = false;
      fellBack = true;
    }
    const parts: Buffer[] = [];
    for (let p = 0; p < data.length || parts.length === 0; p += shortCap)
      parts.push(data.subarray(p, p + shortCap));
    for (const [k, part] of parts.entries()) {
      const last = k === parts.length - 1;
      const a = await send({ ...step.apdu, cla: step.apdu.cla | (last ? 0 : 0x10), data: part });
      const sw = a?.sw ?? 0x6700;
      if (sw !== 0x9000)
        fail(
          step,
          i,
          sw,
          `status ${swHex(sw)}${parts.length > 1 ? ` on part ${k + 1} of ${parts.length}` : ''}`,
        );
    }
  };

  for (const [i, step] of steps.entries()) {
    await opts.beforeStep?.(step, i);
    try {
      if (step.kind === 'write-file') await writeFile(step, i);
      else await single(step, i);
    } catch (e) {
      if (e instanceof PersoWriteError) throw e;
      fail(step, i, undefined, (e as Error).message);
    }
  }
  return {
    ...io.stats,
    extendedLength: extended && extendedConfirmed,
    fellBackToShort: fellBack,
    window: usedWindow,
  };
}
