/**
 * Device permits: the capability without which the link puts no command frame on the wire that
 * can move a booklet, print on it, write to (or authenticate against) its chip, or run printer
 * maintenance. docs/protocol.md ("Guarded commands") lists which frames need one.
 *
 * A permit is an opaque, frozen object known to this module only (a WeakMap holds its scope and
 * what it has spent): a lookalike object, an object made from the class prototype or a copy of
 * a permit is not a permit. Permits are minted by the one holder of the permit authority; in
 * the station that is station/device-gate.ts, which claims it when it is loaded and mints only
 * after checking the user's role, writing an audit entry and, for printing and chip writing,
 * a clearance from a passed intake. A second claim throws, so no other code of a station
 * process can mint (and if anything claimed first, the gate fails to load and nothing runs).
 */
import { Command, commandName } from './protocol.ts';

/** What a permit can allow: the protocol commands that need one. */
export const GUARDED_OPERATIONS = [
  'FEED',
  'MOVE_TO_ENCODER',
  'PRINT_DATA_PAGE',
  'EJECT',
  'TEST_PATTERN',
  'CLEAN',
  /** TRANSCEIVE of an APDU that authenticates against the chip (changes its security state). */
  'CHIP_AUTH',
  /** TRANSCEIVE of any APDU that is neither a read nor an authentication. */
  'CHIP_WRITE',
] as const;
export type GuardedOperation = (typeof GUARDED_OPERATIONS)[number];

/** APDU instructions that only read (SELECT, READ BINARY, GET DATA, GET RESPONSE). */
const READ_INS = new Set([0xa4, 0xb0, 0xb1, 0xca, 0xcb, 0xc0]);
/**
 * Authentication instructions: INITIALIZE UPDATE, EXTERNAL / INTERNAL / GENERAL AUTHENTICATE,
 * GET CHALLENGE, MANAGE SECURITY ENVIRONMENT. They change the chip's security state and, on
 * real chips, its retry counters: guessing transport keys is not a free diagnostic.
 */
const AUTH_INS = new Set([0x50, 0x82, 0x84, 0x86, 0x87, 0x88, 0x22]);

const FREE_COMMANDS = new Set<number>([
  Command.IDENTIFY,
  Command.GET_STATUS,
  Command.DEBUG, // the simulator's fault injection; real devices answer UNKNOWN_COMMAND
  Command.READ_SERIAL,
  Command.READ_MRZ,
  Command.GET_COUNTERS,
  Command.FIELD,
  Command.DETECT_CHIP,
]);

/**
 * What a command frame needs: undefined when it is free (reads, status, diagnostics), the
 * guarded operation when it needs a permit, 'UNLISTED' for a code the protocol does not define
 * (never sent: a device's undocumented command could do anything).
 */
export function guardedOperation(
  code: number,
  payload: Buffer,
): GuardedOperation | 'UNLISTED' | undefined {
  if (FREE_COMMANDS.has(code)) return undefined;
  switch (code) {
    case Command.FEED:
      return 'FEED';
    case Command.MOVE_TO_ENCODER:
      return 'MOVE_TO_ENCODER';
    case Command.PRINT_DATA_PAGE:
      return 'PRINT_DATA_PAGE';
    case Command.EJECT:
      return 'EJECT';
    case Command.TEST_PATTERN:
      return 'TEST_PATTERN';
    case Command.CLEAN:
      return 'CLEAN';
    case Command.TRANSCEIVE:
    case Command.TRANSCEIVE_COLLECT: {
      // The instruction byte stays in clear under secure messaging and command chaining.
      if (payload.length < 4) return 'CHIP_WRITE';
      const ins = payload[1]!;
      if (READ_INS.has(ins)) return undefined;
      if (AUTH_INS.has(ins)) return 'CHIP_AUTH';
      return 'CHIP_WRITE';
    }
    default:
      return 'UNLISTED';
  }
}

/** A command refused for want of a valid permit: nothing was sent. */
export class PermitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermitError';
  }
}

export interface PermitScope {
  /** What it is for, in a few words (messages and audit). */
  purpose: string;
  operations: readonly GuardedOperation[];
  /** The links (device connections) it is valid on. */
  links: readonly object[];
  /** At most this many commands in all (1: a single-use permit). Default: no limit. */
  uses?: number;
  /** At most this many commands of an operation (e.g. FEED: 1, one booklet). */
  limits?: Partial<Record<GuardedOperation, number>>;
  /** Sending one of these spends the permit (EJECT: the booklet has left the transport). */
  endsWith?: readonly GuardedOperation[];
}

interface PermitState {
  scope: PermitScope;
  used: number;
  usedBy: Map<GuardedOperation, number>;
  ended: string | undefined;
}

const states = new WeakMap<object, PermitState>();
const mintToken = Symbol('device permit');

/** A capability to send guarded commands; only the permit authority makes one. */
export class DevicePermit {
  readonly purpose: string;
  readonly operations: readonly GuardedOperation[];
  constructor(token: symbol, scope: PermitScope) {
    if (token !== mintToken) throw new PermitError('a device permit comes only from the gate');
    this.purpose = scope.purpose;
    this.operations = Object.freeze([...scope.operations]);
    Object.freeze(this);
  }
}

export interface PermitAuthority {
  mint(scope: PermitScope): DevicePermit;
  /** Ends a permit at once (e.g. when its intake job has decided). */
  revoke(permit: DevicePermit, why?: string): void;
}

let claimed = false;

/**
 * Hands out the only permit authority of this process. Throws on a second call: whoever
 * claimed first (station/device-gate.ts in a station process) is the one minter.
 */
export function claimPermitAuthority(): PermitAuthority {
  if (claimed)
    throw new PermitError(
      'the device permit authority was already claimed in this process: only the device gate mints permits',
    );
  claimed = true;
  return Object.freeze({
    mint(scope: PermitScope): DevicePermit {
      for (const op of scope.operations)
        if (!GUARDED_OPERATIONS.includes(op)) throw new PermitError(`unknown operation ${op}`);
      if (!scope.links.length) throw new PermitError('a permit must name the links it is for');
      const frozen: PermitScope = Object.freeze({
        ...scope,
        operations: Object.freeze([...scope.operations]),
        links: Object.freeze([...scope.links]),
        limits: Object.freeze({ ...scope.limits }),
        endsWith: Object.freeze([...(scope.endsWith ?? [])]),
      });
      const permit = new DevicePermit(mintToken, frozen);
      states.set(permit, { scope: frozen, used: 0, usedBy: new Map(), ended: undefined });
      return permit;
    },
    revoke(permit: DevicePermit, why = 'revoked'): void {
      const s = states.get(permit);
      if (s && !s.ended) s.ended = why;
    },
  });
}

/**
 * The link's check before it queues a command: throws PermitError, naming the command and why,
 * unless the frame is free or `permit` is a live permit for this operation on this link; a
 * permitted command counts against the permit's limits.
 */
export function admitCommand(
  link: object,
  code: number,
  payload: Buffer,
  permit: DevicePermit | undefined,
): void {
  const admitted = checkCommand(link, code, payload, permit);
  if (!admitted) return;
  const { state: s, op } = admitted;
  s.used++;
  s.usedBy.set(op, (s.usedBy.get(op) ?? 0) + 1);
  if (s.scope.uses !== undefined && s.used >= s.scope.uses) s.ended = 'used';
  if (s.scope.endsWith?.includes(op)) s.ended = `${op} sent`;
}

/**
 * The same check without spending anything: for a client that must know before it changes
 * state of its own (the encoder advances its secure-messaging counters when it wraps an APDU).
 */
export function checkCommand(
  link: object,
  code: number,
  payload: Buffer,
  permit: DevicePermit | undefined,
): { state: PermitState; op: GuardedOperation } | undefined {
  const op = guardedOperation(code, payload);
  if (op === undefined) return undefined;
  const name = commandName(code);
  if (op === 'UNLISTED')
    throw new PermitError(`${name} refused: not a command of the station protocol`);
  const what = op === 'CHIP_AUTH' || op === 'CHIP_WRITE' ? `${name} (${op})` : name;
  if (permit === undefined)
    throw new PermitError(
      `${what} refused: it moves, prints on or writes to a booklet and needs a permit from the device gate`,
    );
  const s = states.get(permit);
  if (!s) throw new PermitError(`${what} refused: the permit is not one the device gate issued`);
  if (s.ended)
    throw new PermitError(`${what} refused: the ${s.scope.purpose} permit has ended (${s.ended})`);
  if (!s.scope.links.includes(link))
    throw new PermitError(`${what} refused: the ${s.scope.purpose} permit is for another device`);
  if (!s.scope.operations.includes(op))
    throw new PermitError(`${what} refused: the ${s.scope.purpose} permit does not allow ${op}`);
  const limit = s.scope.limits?.[op];
  if (limit !== undefined && (s.usedBy.get(op) ?? 0) >= limit)
    throw new PermitError(
      `${what} refused: the ${s.scope.purpose} permit allows ${op} ${limit} time(s), already used`,
    );
  return { state: s, op };
}

/** Whether a permit is still live (for callers deciding whether to ask for a new one). */
export function permitIsLive(permit: DevicePermit | undefined): boolean {
  const s = permit ? states.get(permit) : undefined;
  return s !== undefined && !s.ended;
}
