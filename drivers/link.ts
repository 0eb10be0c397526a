import { EventEmitter } from 'node:events';
import {
  encodeFrame,
  FrameReceiver,
  FRAME_OVERHEAD,
  MAX_PAYLOAD,
  type CorruptFrame,
  type Frame,
} from './frame.ts';
import { admitCommand, type DevicePermit } from './permit.ts';
import type { CloseInfo, Transport } from './transport.ts';

/** Frame TYPE values (docs/protocol.md). */
export const FrameType = {
  COMMAND: 0x01,
  RESPONSE: 0x02,
  EVENT: 0x03,
  ACK: 0x04,
  NAK: 0x05,
  HELLO: 0x06,
} as const;

export type LinkErrorKind = 'timeout' | 'no-ack' | 'disconnected' | 'closed' | 'too-large';

/** A link failure: the command's outcome is unknown or it was never delivered. Never a success. */
export class LinkError extends Error {
  constructor(
    readonly kind: LinkErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'LinkError';
  }
}

export interface LinkResponse {
  status: number;
  payload: Buffer;
}

export type CommandHandler = (code: number, payload: Buffer) => Promise<LinkResponse | null>;

export interface LinkOptions {
  /** Frames sent and not yet acknowledged, at most (sliding window). Default 8. */
  window?: number;
  /** Retransmissions of one frame before giving up. Default 4. */
  maxRetransmissions?: number;
  /** Time allowed for an ACK beyond the frame's own time on the wire. Default 400 ms. */
  ackTimeoutMs?: number;
  /** Default time allowed for a response once a command is acknowledged. Default 2000 ms. */
  defaultTimeoutMs?: number;
  /** A partial frame is abandoned after this long without a byte. Default 200 ms. */
  interByteTimeoutMs?: number;
  /** Names of command codes for messages (e.g. 0x10 -> 'FEED'). */
  commandName?: (code: number) => string;
  /** For simulators only: rewrites (corrupts, truncates) outgoing bytes. */
  outgoingFilter?: (bytes: Buffer, frame: Frame) => Buffer | null;
  /** Number of recent conversation lines kept for diagnosis. Default 50. */
  historySize?: number;
}

export interface RequestOptions {
  /** Time allowed for the response after the command is acknowledged. */
  timeoutMs?: number;
  /**
   * Required for a command that moves, prints on or writes to a booklet (drivers/permit.ts);
   * without a live permit for it the command is refused before anything is queued.
   */
  permit?: DevicePermit;
}

interface Outstanding {
  frame: Frame;
  bytes: Buffer;
  attempts: number;
  /** When it is resent (performance.now() time) unless acknowledged first. */
  due: number;
  onAcked: () => void;
  onFailed: (err: LinkError) => void;
}

interface PendingRequest {
  code: number;
  timeoutMs: number;
  /** When the command times out (performance.now() time); set once it is acknowledged. */
  deadline: number | undefined;
  resolve: (r: LinkResponse) => void;
  reject: (e: Error) => void;
}

/** One line of the conversation, for the terminal and diagnostics. */
export interface TraceEntry {
  dir: 'tx' | 'rx' | 'bad';
  frame?: Frame;
  corrupt?: CorruptFrame;
  retransmission?: boolean;
  at: number;
}

const DUP_MEMORY = 64;

/**
 * The link layer over a Transport: reliable delivery of COMMAND/RESPONSE/EVENT frames with
 * ACK/NAK, bounded retransmission, a sliding window, duplicate suppression by sequence number,
 * and per-command response timeouts. Symmetric: a station uses request() and `event`; a device
 * (the simulator) sets a command handler and uses sendEvent().
 *
 * Events: `event` (code, payload), `frame` (TraceEntry), `close` (CloseInfo), `warning` (string).
 */
export class Link extends EventEmitter {
  readonly #receiver: FrameReceiver;
  #seq = 0;
  readonly #window: number;
  readonly #maxRetransmissions: number;
  readonly #ackTimeoutMs: number;
  readonly #defaultTimeoutMs: number;
  readonly #outstanding = new Map<number, Outstanding>();
  readonly #queue: Outstanding[] = [];
  readonly #pending = new Map<number, PendingRequest>();
  readonly #recent: number[] = [];
  #wireFreeAt = 0;
  #lastBlindNak = 0;
  #inSession = true;
  #sessions = 0;
  #handler: CommandHandler | undefined;
  #handlerChain: Promise<void> = Promise.resolve();
  #closed = false;
  #closeInfo: CloseInfo | undefined;
  readonly #history: TraceEntry[] = [];
  /** Encoded frames waiting for this turn of the event loop to end (written as one). */
  #outbox: Buffer[] = [];
  #flushScheduled = false;
  /**
   * One timer for every unacknowledged frame and one for every command awaiting its answer,
   * each armed at the earliest deadline and re-armed when it fires: a frame acknowledged or a
   * command answered in time costs no timer of its own.
   */
  #ackTimer: NodeJS.Timeout | undefined;
  #ackTimerAt = Infinity;
  #answerTimer: NodeJS.Timeout | undefined;
  #answerTimerAt = Infinity;
  /** Device side: whether a station said HELLO since the last failure. */
  peerPresent = false;
  readonly #onData = (d: Buffer): void => {
    this.#receiver.push(d);
  };
  readonly #onClose = (info: CloseInfo): void => this.#handleClose(info);
  readonly #onWarning = (w: string): void => {
    this.emit('warning', w);
  };
  readonly #onLost = (w: string): void => {
    this.#receiver.reset();
    this.emit('warning', w);
    this.#sendNak(undefined);
  };

  readonly #transport: Transport;
  readonly #opts: LinkOptions;

  constructor(transport: Transport, opts: LinkOptions = {}) {
    super();
    this.#transport = transport;
    this.#opts = opts;
    this.#window = Math.max(1, Math.min(opts.window ?? 8, 100));
    this.#maxRetransmissions = opts.maxRetransmissions ?? 4;
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? 400;
    this.#defaultTimeoutMs = opts.defaultTimeoutMs ?? 2000;
    this.#receiver = new FrameReceiver(
      {
        frame: (f: Frame) => this.#handleFrame(f),
        corrupt: (c: CorruptFrame) => {
          this.#trace({ dir: 'bad', corrupt: c, at: Date.now() });
          if (c.reason === 'bad-crc') this.#sendNak(c.seqHint);
          else this.#sendNak(undefined, true);
        },
      },
      { interByteTimeoutMs: opts.interByteTimeoutMs ?? 200 },
    );
    transport.on('data', this.#onData);
    transport.on('close', this.#onClose);
    transport.on('warning', this.#onWarning);
    transport.on('lost', this.#onLost);
    if (!transport.isOpen) {
      this.#closed = true;
      this.#closeInfo = { disconnected: false };
    }
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  /**
   * The transport's description (e.g. the port path). The transport itself stays private to the
   * link, so frames reach the wire only through request(), where permits are checked.
   */
  get description(): string {
    return this.#transport.description;
  }

  /** The last lines of the conversation (oldest first). */
  recentHistory(): TraceEntry[] {
    return [...this.#history];
  }

  /** Device side: how incoming commands are answered (one at a time, in order). */
  setCommandHandler(handler: CommandHandler): void {
    this.#handler = handler;
  }

  /**
   * Station side: the sessions this link has started (HELLO), the current one last. What a
   * device says about itself holds for one session: another may answer after a reconnect.
   */
  get session(): number {
    return this.#sessions;
  }

  /** Station side: announces a new session so the peer forgets old sequence numbers. */
  async hello(): Promise<void> {
    this.#sessions++;
    // Whatever arrives before the HELLO is acknowledged was sent to an earlier session (bytes
    // left in the port's buffer): acknowledge it so the device stops resending, act on nothing.
    this.#inSession = false;
    await this.#sendReliable(FrameType.HELLO, 0, Buffer.alloc(0));
  }

  /**
   * Sends a command and waits for its response. Rejects with LinkError, never a false success,
   * or with PermitError (nothing sent) for a guarded command without a live permit.
   */
  request(
    code: number,
    payload: Buffer = Buffer.alloc(0),
    opts: RequestOptions = {},
  ): Promise<LinkResponse> {
    // Every station-side command frame passes here: this is where the permit is enforced.
    try {
      admitCommand(this, code, payload, opts.permit);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    if (this.#closed) return Promise.reject(this.#closedError(code));
    if (payload.length > MAX_PAYLOAD)
      return Promise.reject(
        new LinkError(
          'too-large',
          `${this.#name(code)}: payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`,
        ),
      );
    const seq = this.#nextSeq();
    return new Promise<LinkResponse>((resolve, reject) => {
      const req: PendingRequest = {
        code,
        timeoutMs: opts.timeoutMs ?? this.#defaultTimeoutMs,
        deadline: undefined,
        resolve,
        reject,
      };
      this.#pending.set(seq, req);
      this.#enqueue(
        { seq, type: FrameType.COMMAND, code, payload },
        () => {
          if (this.#pending.get(seq) !== req) return;
          // The answer is awaited from the acknowledgement on.
          req.deadline = performance.now() + req.timeoutMs;
          this.#armAnswerTimer(req.deadline);
        },
        (err) => {
          if (this.#pending.delete(seq)) reject(err);
        },
      );
    });
  }

  /** Device side: sends an unsolicited event (reliably; dropped if no station is listening). */
  sendEvent(code: number, payload: Buffer = Buffer.alloc(0)): Promise<void> {
    if (this.#closed || !this.peerPresent) return Promise.resolve();
    return this.#sendReliable(FrameType.EVENT, code, payload).catch(() => undefined);
  }

  /** Reopens the transport after a disconnect and starts a new session. */
  async reconnect(): Promise<void> {
    if (!this.#transport.isOpen) await this.#transport.reopen();
    this.#receiver.reset();
    this.#outbox = [];
    this.#closed = false;
    this.#closeInfo = undefined;
    this.#recent.length = 0;
    this.#wireFreeAt = 0;
    await this.hello();
  }

  /** Closes the link and its transport; pending commands fail. */
  async close(): Promise<void> {
    // Frames already handed to the link (an acknowledgement, say) still go out.
    if (!this.#closed) this.#flush();
    if (!this.#closed) this.#failAll({ disconnected: false }, 'closed');
    this.#closed = true;
    this.#transport.off('data', this.#onData);
    this.#transport.off('close', this.#onClose);
    this.#transport.off('warning', this.#onWarning);
    this.#transport.off('lost', this.#onLost);
    this.#receiver.stop();
    await this.#transport.close();
  }

  #name(code: number): string {
    return this.#opts.commandName?.(code) ?? `command 0x${code.toString(16).padStart(2, '0')}`;
  }

  #closedError(code: number): LinkError {
    const disconnected = this.#closeInfo?.disconnected ?? false;
    return new LinkError(
      disconnected ? 'disconnected' : 'closed',
      `${this.#name(code)} not sent: ${disconnected ? 'device disconnected' : 'link is closed'} (${this.#transport.description})`,
    );
  }

  #nextSeq(): number {
    const s = this.#seq;
    this.#seq = (this.#seq + 1) & 0xff;
    return s;
  }

  #sendReliable(type: number, code: number, payload: Buffer): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError(code));
    const seq = this.#nextSeq();
    return new Promise((resolve, reject) =>
      this.#enqueue({ seq, type, code, payload }, resolve, reject),
    );
  }

  #enqueue(frame: Frame, onAcked: () => void, onFailed: (e: LinkError) => void): void {
    const o: Outstanding = {
      frame,
      bytes: encodeFrame(frame),
      attempts: 0,
      due: Infinity,
      onAcked,
      onFailed,
    };
    this.#queue.push(o);
    this.#pump();
  }

  #pump(): void {
    while (!this.#closed && this.#outstanding.size < this.#window && this.#queue.length) {
      const o = this.#queue.shift()!;
      this.#outstanding.set(o.frame.seq, o);
      this.#transmit(o);
    }
  }

  /** When the last queued byte leaves the wire, at the transport's speed. */
  #wireTime(bytes: number): number {
    const now = performance.now();
    const bps = this.#transport.bytesPerSecond;
    if (!bps) return now;
    this.#wireFreeAt = Math.max(now, this.#wireFreeAt) + (bytes * 1000) / bps;
    return this.#wireFreeAt;
  }

  #transmit(o: Outstanding): void {
    o.attempts++;
    const retransmission = o.attempts > 1;
    this.#trace({ dir: 'tx', frame: o.frame, retransmission, at: Date.now() });
    this.#rawWrite(o.bytes, o.frame);
    // The peer may be busy sending a full frame before it can acknowledge.
    const bps = this.#transport.bytesPerSecond;
    const peerBacklog = bps ? ((MAX_PAYLOAD + FRAME_OVERHEAD) * 1000) / bps : 0;
    o.due = this.#wireTime(o.bytes.length) + this.#ackTimeoutMs + peerBacklog;
    this.#armAckTimer(o.due);
  }

  #armAckTimer(at: number): void {
    if (this.#ackTimer && this.#ackTimerAt <= at) return;
    if (this.#ackTimer) clearTimeout(this.#ackTimer);
    this.#ackTimerAt = at;
    this.#ackTimer = setTimeout(this.#onAckTimer, Math.max(1, at - performance.now()));
  }

  /** Resends (or gives up on) every frame whose acknowledgement is overdue. */
  readonly #onAckTimer = (): void => {
    this.#ackTimer = undefined;
    this.#ackTimerAt = Infinity;
    const now = performance.now();
    for (const o of [...this.#outstanding.values()])
      if (o.due <= now && this.#outstanding.get(o.frame.seq) === o) this.#onAckTimeout(o);
    let next = Infinity;
    for (const o of this.#outstanding.values()) if (o.due < next) next = o.due;
    if (next < Infinity && !this.#closed) this.#armAckTimer(next);
  };

  #armAnswerTimer(at: number): void {
    if (this.#answerTimer && this.#answerTimerAt <= at) return;
    if (this.#answerTimer) clearTimeout(this.#answerTimer);
    this.#answerTimerAt = at;
    this.#answerTimer = setTimeout(this.#onAnswerTimer, Math.max(1, at - performance.now()));
  }

  /** Fails every command whose answer is overdue (a late answer is ignored when it comes). */
  readonly #onAnswerTimer = (): void => {
    this.#answerTimer = undefined;
    this.#answerTimerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const [seq, req] of [...this.#pending]) {
      if (req.deadline === undefined || this.#pending.get(seq) !== req) continue;
      if (req.deadline > now) {
        if (req.deadline < next) next = req.deadline;
        continue;
      }
      this.#pending.delete(seq);
      req.reject(
        new LinkError(
          'timeout',
          `device did not answer ${this.#name(req.code)} within ${req.timeoutMs} ms`,
        ),
      );
    }
    if (next < Infinity && !this.#closed) this.#armAnswerTimer(next);
  };

  #stopTimers(): void {
    if (this.#ackTimer) clearTimeout(this.#ackTimer);
    if (this.#answerTimer) clearTimeout(this.#answerTimer);
    this.#ackTimer = this.#answerTimer = undefined;
    this.#ackTimerAt = this.#answerTimerAt = Infinity;
  }

  #onAckTimeout(o: Outstanding): void {
    if (this.#outstanding.get(o.frame.seq) !== o) return;
    if (o.attempts > this.#maxRetransmissions) {
      this.#outstanding.delete(o.frame.seq);
      if (o.frame.type !== FrameType.COMMAND) this.peerPresent = false;
      o.onFailed(
        new LinkError(
          'no-ack',
          `no acknowledgement for ${o.frame.type === FrameType.COMMAND ? this.#name(o.frame.code) : 'frame'} after ${o.attempts} attempts (link stuck on ${this.#transport.description})`,
        ),
      );
      this.#pump();
      return;
    }
    this.#transmit(o);
  }

  /**
   * Queues a frame's bytes for the wire. Frames queued in one turn of the event loop (an ACK and
   * the next command, pipelined commands, a resend) leave in one transport write when it ends:
   * one system call and one wake-up of the peer instead of one each. Each frame keeps its own
   * deadline, counted from when it was queued.
   */
  #rawWrite(bytes: Buffer, frame: Frame): void {
    const out = this.#opts.outgoingFilter ? this.#opts.outgoingFilter(bytes, frame) : bytes;
    if (!out || !out.length) return;
    this.#outbox.push(out);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flushNow);
    }
  }

  readonly #flushNow = (): void => {
    this.#flushScheduled = false;
    this.#flush();
  };

  #flush(): void {
    const parts = this.#outbox;
    if (!parts.length) return;
    this.#outbox = [];
    if (this.#closed) return;
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.#transport.write(bytes).catch((e: Error) => {
      if (!this.#closed) this.emit('warning', e.message);
    });
  }

  #sendAck(seq: number): void {
    if (this.#closed) return;
    const frame: Frame = { seq, type: FrameType.ACK, code: 0, payload: Buffer.alloc(0) };
    this.#trace({ dir: 'tx', frame, at: Date.now() });
    this.#rawWrite(encodeFrame(frame), frame);
  }

  #sendNak(seqHint: number | undefined, rateLimited = false): void {
    if (this.#closed) return;
    // Line noise may come in bursts: one "resend your oldest" per 20 ms is enough.
    const now = Date.now();
    if (rateLimited && now - this.#lastBlindNak < 20) return;
    if (rateLimited) this.#lastBlindNak = now;
    const frame: Frame = {
      seq: seqHint ?? 0,
      type: FrameType.NAK,
      code: seqHint === undefined ? 0 : 1,
      payload: Buffer.alloc(0),
    };
    this.#trace({ dir: 'tx', frame, at: Date.now() });
    this.#rawWrite(encodeFrame(frame), frame);
  }

  #trace(e: TraceEntry): void {
    this.#history.push(e);
    if (this.#history.length > (this.#opts.historySize ?? 50)) this.#history.shift();
    this.emit('frame', e);
  }

  #handleFrame(f: Frame): void {
    this.#trace({ dir: 'rx', frame: f, at: Date.now() });
    switch (f.type) {
      case FrameType.ACK: {
        const o = this.#outstanding.get(f.seq);
        if (o) {
          this.#outstanding.delete(f.seq);
          if (o.frame.type === FrameType.HELLO) this.#inSession = true;
          o.onAcked();
          this.#pump();
        }
        return;
      }
      case FrameType.NAK: {
        let o = f.code === 1 ? this.#outstanding.get(f.seq) : undefined;
        if (!o) o = this.#outstanding.values().next().value;
        if (o) {
          if (o.attempts > this.#maxRetransmissions) this.#onAckTimeout(o);
          else this.#transmit(o);
        }
        return;
      }
      case FrameType.HELLO:
        this.#recent.length = 0;
        this.#remember(f.seq);
        this.#sendAck(f.seq);
        // A new station session: forget what the previous one left unacknowledged.
        {
          const dropped = [...this.#outstanding.values(), ...this.#queue];
          this.#outstanding.clear();
          this.#queue.length = 0;
          for (const o of dropped)
            o.onFailed(new LinkError('closed', 'dropped: the peer started a new session'));
        }
        this.peerPresent = true;
        return;
      case FrameType.COMMAND:
      case FrameType.RESPONSE:
      case FrameType.EVENT: {
        this.#sendAck(f.seq);
        if (!this.#inSession) return; // left over from an earlier session
        if (this.#recent.includes(f.seq)) return; // a retransmission we already handled
        this.#remember(f.seq);
        if (f.type === FrameType.COMMAND) this.#handleCommand(f);
        else if (f.type === FrameType.RESPONSE) this.#handleResponse(f);
        else this.emit('event', f.code, f.payload);
        return;
      }
      default:
        this.emit('warning', `unknown frame type 0x${f.type.toString(16)}`);
    }
  }

  #remember(seq: number): void {
    this.#recent.push(seq);
    if (this.#recent.length > DUP_MEMORY) this.#recent.shift();
  }

  #handleCommand(f: Frame): void {
    const handler = this.#handler;
    this.#handlerChain = this.#handlerChain.then(async () => {
      let res: LinkResponse | null;
      if (!handler) res = { status: 0x01, payload: Buffer.alloc(0) };
      else {
        try {
          res = await handler(f.code, f.payload);
        } catch (e) {
          this.emit('warning', `handler failed: ${e instanceof Error ? e.message : String(e)}`);
          res = { status: 0x7f, payload: Buffer.alloc(0) };
        }
      }
      if (!res || this.#closed) return; // deliberately unanswered
      const body = Buffer.concat([Buffer.from([f.seq, res.status]), res.payload]);
      // Queued in order; the next command need not wait for this answer's acknowledgement.
      this.#sendReliable(FrameType.RESPONSE, f.code, body).catch(() => undefined);
    });
  }

  #handleResponse(f: Frame): void {
    if (f.payload.length < 2) {
      this.emit('warning', 'response frame too short');
      return;
    }
    const reqSeq = f.payload[0]!;
    const req = this.#pending.get(reqSeq);
    if (!req || req.code !== f.code) {
      this.emit('warning', `late or unexpected response to ${this.#name(f.code)} ignored`);
      return;
    }
    this.#pending.delete(reqSeq);
    // A response also proves delivery of the command.
    const o = this.#outstanding.get(reqSeq);
    if (o) {
      this.#outstanding.delete(reqSeq);
      this.#pump();
    }
    req.resolve({ status: f.payload[1]!, payload: Buffer.from(f.payload.subarray(2)) });
  }

  #handleClose(info: CloseInfo): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeInfo = info;
    this.peerPresent = false;
    this.#outbox = [];
    this.#failAll(info, info.disconnected ? 'disconnected' : 'closed');
    this.emit('close', info);
  }

  #failAll(info: CloseInfo, kind: LinkErrorKind): void {
    const why = info.disconnected ? 'device disconnected' : 'link closed';
    this.#stopTimers();
    const all = [...this.#outstanding.values(), ...this.#queue];
    this.#outstanding.clear();
    this.#queue.length = 0;
    for (const [seq, req] of this.#pending) {
      this.#pending.delete(seq);
      req.reject(new LinkError(kind, `${why} during ${this.#name(req.code)}: outcome unknown`));
    }
    for (const o of all) o.onFailed(new LinkError(kind, `${why} before delivery`));
  }
}
