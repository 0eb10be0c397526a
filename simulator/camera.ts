/**
 * The printer's camera: reads the MRZ back from the raster the printer printed, not from the
 * job's text. The TD3 MRZ is fixed-pitch OCR-B at the positions Doc 9303 Part 4 fixes, so the
 * reader finds the two code lines and the character grid in the image, then matches every
 * character cell against the 37 glyphs (A-Z, 0-9, <) rendered with the same font at the same
 * resolution. Each character gets a confidence (how well its best glyph fits) and a margin (how
 * much better than the next glyph), so a poor print is reported unreadable instead of guessed.
 *
 * Faults degrade the printed MRZ zone before it is read: smear (ink dragged along the print
 * direction), shift (the zone moved), fade (lighter ink with dropped dots). Deterministic: the
 * same raster, faults and seed give the same reading.
 */
import { TD3_PAGE, mrzCapHeight, mrzOnlySvg } from '../mrtd/data-page.ts';
import { type PageRaster, rasterizeDataPage } from '../mrtd/data-page-raster.ts';
import { TD3_LINE_LENGTH } from '../mrtd/mrz.ts';

/** The 37 characters a TD3 MRZ may hold. */
export const MRZ_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<';

/** What degrades the printed MRZ before the camera sees it; every strength 0 means none. */
export interface PrintFaults {
  /** Ink dragged along the print direction: a horizontal motion blur this many pixels long. */
  smear?: number;
  /** The MRZ printed this many pixels off its place (right/down positive). */
  shift?: { dx: number; dy: number };
  /** 0..1: the ink is this much lighter and this share of its dots is missing. */
  fade?: number;
  /** Seed of the dropped dots of `fade` (deterministic). */
  seed?: number;
}

export interface MrzCharReading {
  char: string;
  /** Overlap (intersection over union) of the cell with its best glyph, 0..1. */
  confidence: number;
  /** Confidence minus that of the best different glyph. */
  margin: number;
}

export interface MrzReading {
  /** The two lines as read; an unreadable character is its best guess (see `unreadable`). */
  lines: string[];
  /** Every character with its confidence, line by line. */
  chars: MrzCharReading[][];
  /** Positions (line 1 or 2, column 1..44) whose glyph is not certain enough. */
  unreadable: { line: number; column: number }[];
  /** True when both lines were found and every character is certain enough. */
  readable: boolean;
  /** Why the zone could not be read at all (no code lines found), when that is the case. */
  reason?: string;
}

export interface ReadOptions {
  faults?: PrintFaults;
  /** Lowest confidence a character may have (default 0.6). */
  minConfidence?: number;
  /** Lowest margin over the next glyph (default 0.08). */
  minMargin?: number;
}

const DEFAULT_MIN_CONFIDENCE = 0.6;
const DEFAULT_MIN_MARGIN = 0.08;
/** Glyphs that best fit a cell at its grid position and are tried at the nearby offsets. */
const CANDIDATES = 5;

/** Geometry in pixels at one resolution. */
interface Geometry {
  dpi: number;
  pitch: number;
  cap: number;
  /** First row of the MRZ zone in the page (Zone VII is the bottom 23.2 mm). */
  zoneTop: number;
  /** Window around a character cell: rows below the baseline, rows in all, columns either side. */
  below: number;
  rows: number;
  side: number;
  cols: number;
  words: number;
  /** How far (px) each cell is searched around the grid position. */
  search: number;
}

function geometry(dpi: number, pageHeight: number): Geometry {
  const mm = dpi / 25.4;
  const pitch = TD3_PAGE.mrzPitch * mm;
  const cap = mrzCapHeight() * mm;
  // Digits stand about 8% taller than capitals in OCR-B; every glyph sits on the baseline.
  const below = Math.max(2, Math.round(cap * 0.1));
  const rows = Math.ceil(cap * 1.1) + 2 * below;
  const side = Math.max(1, Math.round(dpi / 300));
  const cols = Math.ceil(pitch) + 2 * side;
  return {
    dpi,
    pitch,
    cap,
    zoneTop: pageHeight - Math.round(TD3_PAGE.mrzHeight * mm),
    below,
    rows,
    side,
    cols,
    words: Math.ceil(cols / 32),
    search: Math.max(1, Math.round(dpi / 300)),
  };
}

/** A binary image (1 = ink) of the MRZ zone. */
interface Bitmap {
  width: number;
  height: number;
  ink: Uint8Array;
}

/** Luminance of the MRZ zone (B900-like: the reader sees ink darkness, not colour). */
function zoneGray(
  page: PageRaster,
  g: Geometry,
): { width: number; height: number; gray: Uint8Array } {
  const width = page.width;
  const height = page.height - g.zoneTop;
  const gray = new Uint8Array(width * height);
  const src = page.rgba;
  for (let y = 0; y < height; y++) {
    let p = (g.zoneTop + y) * width * 4;
    const row = y * width;
    for (let x = 0; x < width; x++, p += 4)
      gray[row + x] = (77 * src[p]! + 150 * src[p + 1]! + 29 * src[p + 2]!) >> 8;
  }
  return { width, height, gray };
}

/** A small deterministic generator (mulberry32): floats in [0, 1) from a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Applies the print faults to a grey zone, in place order shift → smear → fade. */
export function degradeZone(
  z: { width: number; height: number; gray: Uint8Array },
  faults: PrintFaults,
): void {
  const { width: w, height: h } = z;
  let g = z.gray;
  const dx = Math.round(faults.shift?.dx ?? 0);
  const dy = Math.round(faults.shift?.dy ?? 0);
  if (dx !== 0 || dy !== 0) {
    const out = new Uint8Array(w * h).fill(255);
    for (let y = 0; y < h; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= h) continue;
      for (let x = 0; x < w; x++) {
        const sx = x - dx;
        if (sx >= 0 && sx < w) out[y * w + x] = g[sy * w + sx]!;
      }
    }
    g = out;
  }
  const smear = Math.round(faults.smear ?? 0);
  if (smear > 0) {
    // Box blur over the pixel and the `smear` pixels before it (ink dragged to the right).
    const out = new Uint8Array(w * h);
    const len = smear + 1;
    for (let y = 0; y < h; y++) {
      const row = y * w;
      let sum = 255 * smear; // paper before the left edge
      for (let x = 0; x < w; x++) {
        sum += g[row + x]!;
        out[row + x] = Math.round(sum / len);
        sum -= x - smear >= 0 ? g[row + x - smear]! : 255;
      }
    }
    g = out;
  }
  const fade = Math.min(1, Math.max(0, faults.fade ?? 0));
  if (fade > 0) {
    const rnd = seededRandom(faults.seed ?? 1);
    for (let i = 0; i < g.length; i++) {
      const v = g[i]!;
      if (v === 255) continue;
      g[i] = rnd() < fade ? 255 : 255 - Math.round((255 - v) * (1 - fade));
    }
  }
  z.gray.set(g);
}

/**
 * Otsu's threshold over the zone's histogram (ink is `<= threshold`); -1 when the zone has no
 * contrast at all. A bilevel print (pure black dots on white) has its threshold at 0.
 */
function otsu(gray: Uint8Array): number {
  const hist = new Float64Array(256);
  for (let i = 0; i < gray.length; i++) hist[gray[i]!]!++;
  const total = gray.length;
  let sumAll = 0;
  for (let t = 0; t < 256; t++) sumAll += t * hist[t]!;
  let wB = 0;
  let sumB = 0;
  let best = 0;
  let threshold = -1;
  for (let t = 0; t < 256; t++) {
    wB += hist[t]!;
    if (wB === 0) continue;
    const wF = total - wB;
    if (wF === 0) break;
    sumB += t * hist[t]!;
    const mB = sumB / wB;
    const mF = (sumAll - sumB) / wF;
    const between = wB * wF * (mB - mF) * (mB - mF);
    if (between > best) {
      best = between;
      threshold = t;
    }
  }
  return threshold;
}

function binarize(
  z: { width: number; height: number; gray: Uint8Array },
  threshold: number,
): Bitmap {
  const ink = new Uint8Array(z.gray.length);
  for (let i = 0; i < ink.length; i++) ink[i] = z.gray[i]! <= threshold ? 1 : 0;
  return { width: z.width, height: z.height, ink };
}

/** A located code line: its baseline row (the lowest ink row) and the left edge of its first cell. */
interface Line {
  base: number;
  left: number;
}

/**
 * Finds the two code lines: bands of rows holding ink (the two tallest), then for each the
 * phase of the 2.54 mm grid (boundaries fall in the gaps between characters) and the 44
 * consecutive cells that hold the most ink.
 */
function locate(b: Bitmap, g: Geometry): Line[] | string {
  const { width, height, ink } = b;
  const rowInk = new Uint32Array(height);
  for (let y = 0; y < height; y++) {
    let c = 0;
    const r = y * width;
    for (let x = 0; x < width; x++) c += ink[r + x]!;
    rowInk[y] = c;
  }
  const minRowInk = Math.max(2, Math.round(g.pitch / 10));
  const bands: { top: number; bottom: number; mass: number }[] = [];
  for (let y = 0; y < height; y++) {
    if (rowInk[y]! < minRowInk) continue;
    const last = bands[bands.length - 1];
    if (last && y - last.bottom <= 2) {
      last.bottom = y;
      last.mass += rowInk[y]!;
    } else bands.push({ top: y, bottom: y, mass: rowInk[y]! });
  }
  const tall = bands.filter((x) => x.bottom - x.top + 1 >= g.cap * 0.6);
  if (tall.length < 2) return `found ${tall.length} code line(s) in the MRZ zone, expected 2`;
  const two = [...tall]
    .sort((a, c) => c.mass - a.mass)
    .slice(0, 2)
    .sort((a, c) => a.top - c.top);
  const lines: Line[] = [];
  for (const band of two) {
    const colInk = new Uint32Array(width);
    for (let y = band.top; y <= band.bottom; y++) {
      const r = y * width;
      for (let x = 0; x < width; x++) colInk[x] = colInk[x]! + ink[r + x]!;
    }
    // Grid phase: cell boundaries fall in the gaps between characters. Many phases cross no
    // ink at all; take the middle of the longest (circular) run of least-ink phases, so the
    // phase does not depend on where the scan starts.
    const p = g.pitch;
    const P = Math.round(p);
    const cost = new Float64Array(P);
    for (let phase = 0; phase < P; phase++)
      for (let x = phase; x < width; x += p) cost[phase]! += colInk[Math.round(x)] ?? 0;
    let least = Infinity;
    for (let i = 0; i < P; i++) least = Math.min(least, cost[i]!);
    const low = (i: number): boolean => cost[((i % P) + P) % P]! <= least + g.cap / 4;
    let bestStart = 0;
    let bestLen = 0;
    for (let i = 0; i < P; i++) {
      if (!low(i) || low(i - 1)) continue;
      let len = 0;
      while (len < P && low(i + len)) len++;
      if (len > bestLen) {
        bestLen = len;
        bestStart = i;
      }
    }
    const bestPhase = bestLen === 0 || bestLen >= P ? 0 : (bestStart + (bestLen - 1) / 2) % P;
    // The 44 consecutive cells holding the most ink.
    const cells = Math.floor((width - bestPhase) / p);
    const cellInk = new Float64Array(cells);
    for (let x = 0; x < width; x++) {
      const c = Math.floor((x - bestPhase) / p);
      if (c >= 0 && c < cells) cellInk[c]! += colInk[x]!;
    }
    if (cells < TD3_LINE_LENGTH) return 'the MRZ zone is narrower than 44 characters';
    let sum = 0;
    for (let c = 0; c < TD3_LINE_LENGTH; c++) sum += cellInk[c]!;
    let best = sum;
    let first = 0;
    for (let c = TD3_LINE_LENGTH; c < cells; c++) {
      sum += cellInk[c]! - cellInk[c - TD3_LINE_LENGTH]!;
      if (sum > best) {
        best = sum;
        first = c - TD3_LINE_LENGTH + 1;
      }
    }
    lines.push({ base: band.bottom, left: bestPhase + first * p });
  }
  return lines;
}

/** Packs the window of cell `i` of a line, offset by (dx, dy), into `out` (rows × words). */
function window(
  b: Bitmap,
  g: Geometry,
  line: Line,
  i: number,
  dx: number,
  dy: number,
  out: Uint32Array,
): void {
  const x0 = Math.round(line.left + i * g.pitch) - g.side + dx;
  const y0 = line.base + g.below - g.rows + 1 + dy;
  out.fill(0);
  for (let r = 0; r < g.rows; r++) {
    const y = y0 + r;
    if (y < 0 || y >= b.height) continue;
    const base = y * b.width;
    for (let c = 0; c < g.cols; c++) {
      const x = x0 + c;
      if (x < 0 || x >= b.width || b.ink[base + x] === 0) continue;
      out[r * g.words + (c >>> 5)]! |= 1 << (c & 31);
    }
  }
}

function popcount(v: number): number {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

interface Templates {
  g: Geometry;
  /** 37 windows, each rows × words. */
  bits: Uint32Array[];
}

const templateCache = new Map<string, Templates>();

/**
 * The 37 glyph windows at a resolution: the alphabet printed as line 1 of a blank page with
 * the data page's own code, read back through the same binarization and location as a print.
 */
function templates(dpi: number, pageHeight: number): Templates {
  const key = `${dpi}/${pageHeight}`;
  const cached = templateCache.get(key);
  if (cached) return cached;
  const g = geometry(dpi, pageHeight);
  const raster = rasterizeDataPage(
    mrzOnlySvg([MRZ_ALPHABET.padEnd(TD3_LINE_LENGTH, '<'), 'P'.padEnd(TD3_LINE_LENGTH, '<')]),
    dpi,
  );
  if (raster.height !== pageHeight)
    throw new Error(`template page is ${raster.height} px high, the print ${pageHeight}`);
  const z = zoneGray(raster, g);
  const b = binarize(z, otsu(z.gray));
  const found = locate(b, g);
  if (typeof found === 'string') throw new Error(`camera templates: ${found}`);
  const bits = [...MRZ_ALPHABET].map((_, i) => {
    const w = new Uint32Array(g.rows * g.words);
    window(b, g, found[0]!, i, 0, 0, w);
    return w;
  });
  const t = { g, bits };
  templateCache.set(key, t);
  return t;
}

/**
 * Reads the MRZ from a printed page raster. Never throws for a bad print: a zone without two
 * code lines is `readable: false` with a reason; uncertain characters are listed in
 * `unreadable`.
 */
export function readMrz(page: PageRaster, opts: ReadOptions = {}): MrzReading {
  const minConfidence = opts.minConfidence ?? DEFAULT_MIN_CONFIDENCE;
  const minMargin = opts.minMargin ?? DEFAULT_MIN_MARGIN;
  const t = templates(page.dpi, page.height);
  const g = t.g;
  const z = zoneGray(page, g);
  if (opts.faults) degradeZone(z, opts.faults);
  const threshold = otsu(z.gray);
  const b = binarize(z, threshold);
  const found = threshold < 0 ? 'the MRZ zone is blank' : locate(b, g);
  if (typeof found === 'string')
    return { lines: [], chars: [], unreadable: [], readable: false, reason: found };

  const win = new Uint32Array(g.rows * g.words);
  const n = win.length;
  const bestPer = new Float64Array(MRZ_ALPHABET.length);
  const order = [...MRZ_ALPHABET].map((_, k) => k);
  const iou = (k: number): number => {
    const tb = t.bits[k]!;
    let inter = 0;
    let union = 0;
    for (let j = 0; j < n; j++) {
      const a = win[j]!;
      const c = tb[j]!;
      if ((a | c) === 0) continue;
      inter += popcount(a & c);
      union += popcount(a | c);
    }
    return union === 0 ? 0 : inter / union;
  };
  const lines: string[] = [];
  const chars: MrzCharReading[][] = [];
  const unreadable: { line: number; column: number }[] = [];
  for (const [li, line] of found.entries()) {
    let text = '';
    const row: MrzCharReading[] = [];
    for (let i = 0; i < TD3_LINE_LENGTH; i++) {
      // Every glyph at the grid position, then the few best around it (a pixel or two off).
      window(b, g, line, i, 0, 0, win);
      for (let k = 0; k < bestPer.length; k++) bestPer[k] = iou(k);
      order.sort((a, c) => bestPer[c]! - bestPer[a]! || a - c);
      const candidates = order.slice(0, CANDIDATES);
      for (let dy = -g.search; dy <= g.search; dy++)
        for (let dx = -g.search; dx <= g.search; dx++) {
          if (dx === 0 && dy === 0) continue;
          window(b, g, line, i, dx, dy, win);
          for (const k of candidates) {
            const v = iou(k);
            if (v > bestPer[k]!) bestPer[k] = v;
          }
        }
      let k1 = 0;
      for (let k = 1; k < bestPer.length; k++) if (bestPer[k]! > bestPer[k1]!) k1 = k;
      let second = 0;
      for (let k = 0; k < bestPer.length; k++)
        if (k !== k1 && bestPer[k]! > second) second = bestPer[k]!;
      const confidence = bestPer[k1]!;
      const char = MRZ_ALPHABET[k1]!;
      row.push({ char, confidence, margin: confidence - second });
      text += char;
      if (confidence < minConfidence || confidence - second < minMargin)
        unreadable.push({ line: li + 1, column: i + 1 });
    }
    lines.push(text);
    chars.push(row);
  }
  return { lines, chars, unreadable, readable: unreadable.length === 0 };
}
