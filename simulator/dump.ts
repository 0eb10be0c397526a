/**
 * The simulator's dump (`station simulator --dump <dir>`, docs/hopper-format.md): every booklet
 * that leaves the transport personalized or printed gets a directory named by its serial, with
 * its chip's files as `station lds build` writes them (EF.COM.bin, DG1.bin, ..., EF.SOD.bin),
 * the printed page as PNG, and the MRZ the camera reads from it, so the passport can be checked
 * with other tools (`station lds verify <dir> --mrz <dir>/mrz.txt`, OpenSSL, an image viewer).
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMrz } from './camera.ts';
import type { SimBooklet } from './device.ts';
import { printedPng, printedRaster } from './printed-page.ts';

/** The LDS name of an eMRTD file identifier (Doc 9303 Part 10), as `station lds` names files. */
export function ldsFileName(fid: number): string {
  if (fid === 0x011e) return 'EF.COM';
  if (fid === 0x011d) return 'EF.SOD';
  if (fid === 0x011c) return 'EF.CardAccess';
  if (fid >= 0x0101 && fid <= 0x0110) return `DG${fid - 0x0100}`;
  return `EF.${fid.toString(16).padStart(4, '0').toUpperCase()}`;
}

/**
 * Writes one booklet's directory under `dir`, replacing an earlier one of the same serial.
 * Written beside it first and renamed into place, so a directory there is always complete.
 * Returns the directory, or undefined when the booklet holds nothing to dump (neither chip
 * files nor a printed page).
 */
export function dumpBooklet(
  dir: string,
  b: SimBooklet,
  tray: 'output' | 'reject',
): string | undefined {
  const files = b.chip?.listFiles() ?? [];
  if (!files.length && !b.printed) return undefined;
  const serial = b.booklet.bookletSerial ?? b.booklet.printedSerial;
  const target = join(dir, serial);
  const tmp = join(dir, `.${serial}.${process.pid}.partial`);
  mkdirSync(dir, { recursive: true });
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    const written: string[] = [];
    for (const { fid } of files) {
      const name = `${ldsFileName(fid)}.bin`;
      writeFileSync(join(tmp, name), b.chip!.readFile(fid)!);
      written.push(name);
    }
    let mrzRead: 'readable' | 'unreadable' | undefined;
    if (b.printed) {
      writeFileSync(join(tmp, 'page.png'), printedPng(b.printed));
      written.push('page.png');
      const reading = readMrz(printedRaster(b.printed));
      mrzRead = reading.readable ? 'readable' : 'unreadable';
      if (reading.readable) {
        writeFileSync(join(tmp, 'mrz.txt'), reading.lines.join('\n') + '\n');
        written.push('mrz.txt');
      }
    }
    const info = {
      printedSerial: b.booklet.printedSerial,
      bookletSerial: serial,
      chipUid: b.chip?.uid.toString('hex').toUpperCase(),
      tray,
      files: written,
      ...(b.printed
        ? {
            page: {
              width: b.printed.header.width,
              height: b.printed.header.height,
              dpi: b.printed.header.dpi,
              sha256: b.printed.header.sha256.toString('hex'),
              printFaults: b.printed.faults,
              mrz: mrzRead,
            },
          }
        : {}),
    };
    writeFileSync(join(tmp, 'booklet.json'), JSON.stringify(info, null, 2) + '\n');
    rmSync(target, { recursive: true, force: true });
    renameSync(tmp, target);
    return target;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
