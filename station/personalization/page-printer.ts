/**
 * What the personalization job needs of the printer for the data page: print it, read its MRZ
 * back. Today it goes as PRINT_DATA_PAGE's text job (drivers/printer.ts printDataPage: the text
 * fields and the MRZ; the face and signature are left out, as a frame carries 8 KB at most).
 * When the raster page transfer lands, `printPage` becomes
 * `printer.printPage(rasterizeDataPage(page.svg()), permit)`: the job already hands it the SVG.
 */
import type { DevicePermit } from '../../drivers/permit.ts';
import type { PrinterClient } from '../../drivers/printer.ts';

export interface DataPageToPrint {
  /** The data page as SVG (mrtd/data-page.ts), made when asked for. */
  svg(): string;
  /** The two MRZ lines. */
  mrz: [string, string];
  /** The printed text fields by name. */
  fields: Record<string, string>;
}

export interface PagePrinter {
  printPage(page: DataPageToPrint, permit: DevicePermit): Promise<void>;
  /** The MRZ read back by the printer's camera, one string per line. */
  readMrz(): Promise<string[]>;
}

export function pagePrinterOf(printer: PrinterClient): PagePrinter {
  return {
    printPage: (page, permit) =>
      printer.printDataPage({ fields: page.fields, mrz: [...page.mrz] }, permit),
    readMrz: () => printer.readMrz(),
  };
}
