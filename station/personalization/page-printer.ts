/**
 * What the personalization job needs of the printer for the data page: print it, read its MRZ
 * back. The page goes as its raster at the printer's resolution (the layers of mrtd/data-page.ts
 * rasterized by mrtd/data-page-raster.ts: the fixed layer once, the holder's data each page;
 * sent by PRINT_DATA_PAGE's page transfer: docs/protocol.md); the printer's camera reads the MRZ
 * from what it printed.
 */
import type { DevicePermit } from '../../drivers/permit.ts';
import type { PrinterClient } from '../../drivers/printer.ts';
import type { DataPageLayers } from '../../mrtd/data-page.ts';
import { rasterizeDataPageLayers } from '../../mrtd/data-page-raster.ts';

export interface DataPageToPrint {
  /** The data page as SVG and in its layers for printing (mrtd/data-page.ts). */
  layers: DataPageLayers;
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
    printPage: async (page, permit) => {
      await printer.printPage(rasterizeDataPageLayers(page.layers), permit);
    },
    readMrz: () => printer.readMrz(),
  };
}
