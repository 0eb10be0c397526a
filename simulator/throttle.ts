import { EventEmitter } from 'node:events';
import type { CloseInfo, Transport } from '../drivers/transport.ts';

/** Bytes handed on at a time (about 11 ms at 115200 baud). */
const SLICE = 128;

/**
 * Makes a transport behave like a serial line of a given speed in both directions: received
 * bytes are handed on when they would have finished arriving, written bytes leave when the line
 * is free. Used by the simulator's timing profiles (a pty itself has no speed).
 */
export class ThrottledTransport extends EventEmitter implements Transport {
  private rxFreeAt = 0;
  private txFreeAt = 0;
  private readonly rxQueue: { at: number; data: Buffer }[] = [];
  private rxTimer: NodeJS.Timeout | undefined;
  private txChain: Promise<void> = Promise.resolve();

  constructor(
    readonly inner: Transport,
    readonly bytesPerSecond: number,
  ) {
    super();
    inner.on('data', (d: Buffer) => this.receive(d));
    inner.on('close', (i: CloseInfo) => {
      this.rxQueue.length = 0;
      if (this.rxTimer) clearTimeout(this.rxTimer);
      this.rxTimer = undefined;
      this.emit('close', i);
    });
    inner.on('warning', (w: string) => this.emit('warning', w));
  }

  get isOpen(): boolean {
    return this.inner.isOpen;
  }

  get description(): string {
    return `${this.inner.description} (${Math.round(this.bytesPerSecond * 10)} baud)`;
  }

  private receive(d: Buffer): void {
    // Hand bytes on in small slices, as a real line delivers them, not in one late lump.
    const now = performance.now();
    this.rxFreeAt = Math.max(now, this.rxFreeAt);
    for (let p = 0; p < d.length; p += SLICE) {
      const slice = d.subarray(p, p + SLICE);
      this.rxFreeAt += (slice.length * 1000) / this.bytesPerSecond;
      this.rxQueue.push({ at: this.rxFreeAt, data: slice });
    }
    this.armRx();
  }

  private armRx(): void {
    if (this.rxTimer || !this.rxQueue.length) return;
    const wait = Math.max(0, this.rxQueue[0]!.at - performance.now());
    this.rxTimer = setTimeout(() => {
      this.rxTimer = undefined;
      const now = performance.now();
      while (this.rxQueue.length && this.rxQueue[0]!.at <= now + 0.5)
        this.emit('data', this.rxQueue.shift()!.data);
      this.armRx();
    }, wait);
  }

  write(data: Buffer): Promise<void> {
    if (!this.inner.isOpen) return this.inner.write(data);
    const now = performance.now();
    this.txFreeAt = Math.max(now, this.txFreeAt);
    let last: Promise<void> = Promise.resolve();
    for (let p = 0; p < data.length; p += SLICE) {
      const slice = data.subarray(p, p + SLICE);
      this.txFreeAt += (slice.length * 1000) / this.bytesPerSecond;
      const at = this.txFreeAt;
      last = this.txChain.then(async () => {
        const wait = at - performance.now();
        if (wait > 0.5) await new Promise((r) => setTimeout(r, wait));
        await this.inner.write(slice);
      });
      this.txChain = last.catch(() => undefined);
    }
    return last;
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async reopen(): Promise<void> {
    this.rxFreeAt = 0;
    this.txFreeAt = 0;
    await this.inner.reopen();
  }
}
