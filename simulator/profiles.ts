/** Timing profiles of the simulator: link speed and mechanical times (ms). */
export interface TimingProfile {
  name: string;
  description: string;
  /** Throttle the link to this many baud (8N1: 10 bits a byte); undefined = as fast as the pty. */
  baudRate: number | undefined;
  feedMs: number;
  readSerialMs: number;
  moveMs: number;
  printMs: number;
  readMrzMs: number;
  ejectMs: number;
  testPatternMs: number;
  cleanMs: number;
  /** Chip processing time per APDU. */
  apduMs: number;
}

/** Every mechanical and chip time at zero. */
const INSTANT_MECHANICS = {
  feedMs: 0,
  readSerialMs: 0,
  moveMs: 0,
  printMs: 0,
  readMrzMs: 0,
  ejectMs: 0,
  testPatternMs: 0,
  cleanMs: 0,
  apduMs: 0,
} as const;

export const PROFILES: Record<string, TimingProfile> = {
  realistic: {
    name: 'realistic',
    description: '115200 baud link, real-world mechanical times',
    baudRate: 115200,
    feedMs: 1500,
    readSerialMs: 300,
    moveMs: 600,
    printMs: 8000,
    readMrzMs: 700,
    ejectMs: 800,
    testPatternMs: 5000,
    cleanMs: 10_000,
    apduMs: 2,
  },
  throttled: {
    name: 'throttled',
    description: '115200 baud link, instant mechanics (link benchmarks)',
    baudRate: 115200,
    ...INSTANT_MECHANICS,
  },
  'zero-latency': {
    name: 'zero-latency',
    description: 'no link throttling, instant mechanics (tests and benchmarks)',
    baudRate: undefined,
    ...INSTANT_MECHANICS,
  },
};

export function getProfile(name: string): TimingProfile {
  const p = PROFILES[name];
  if (!p)
    throw new Error(
      `unknown simulator profile "${name}" (known: ${Object.keys(PROFILES).join(', ')})`,
    );
  return p;
}
