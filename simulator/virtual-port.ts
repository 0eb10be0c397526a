import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A virtual null-modem cable: two linked ptys made by socat. */
export interface VirtualSerialPair {
  /** The end the station opens. */
  stationPath: string;
  /** The end the simulated device opens. */
  devicePath: string;
  /** Kills socat: both ends see the cable pulled. */
  unplug(): Promise<void>;
  /** Starts socat again on the same paths (after unplug()). */
  replug(): Promise<void>;
  /** Kills socat and removes the temporary directory (when it made one). */
  close(): Promise<void>;
}

export interface VirtualSerialOptions {
  /** Directory for the two symlinks; a fresh temporary directory by default. */
  dir?: string;
  /** Timeout for socat to create the ptys. Default 5000 ms. */
  timeoutMs?: number;
}

/** Creates a pty pair with `socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B`. */
export async function createVirtualSerialPair(
  opts: VirtualSerialOptions = {},
): Promise<VirtualSerialPair> {
  const ownDir = !opts.dir;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'perso-sim-'));
  const stationPath = join(dir, 'station');
  const devicePath = join(dir, 'device');
  let child: ChildProcess | undefined;
  let holder: number | undefined;

  const start = async (): Promise<void> => {
    // socat under a shell that ends it when the pipe from this process closes: when this process
    // stops the cable, or dies however it dies (a SIGKILLed owner would otherwise leave socat
    // running, since the end no one opened never hangs up). The shell exits when socat does.
    const proc = spawn(
      'sh',
      [
        '-c',
        'exec 3<&0; socat -d -d "$1" "$2" & s=$!; { read _ <&3; kill $s 2>/dev/null; } & wait $s',
        'socat-cable',
        `pty,raw,echo=0,link=${devicePath}`,
        `pty,raw,echo=0,link=${stationPath}`,
      ],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    // The pipe must not keep this process alive, nor fail it when the shell has gone.
    proc.stdin!.on('error', () => undefined);
    (proc.stdin as unknown as { unref?: () => void }).unref?.();
    proc.once('exit', () => proc.stdin!.destroy());
    child = proc;
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 4000) stderr += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + (opts.timeoutMs ?? 5000);
      const onError = (e: Error & { code?: string }): void =>
        reject(
          new Error(
            e.code === 'ENOENT'
              ? 'socat is not installed (apt-get install socat): it makes the virtual serial ports'
              : `cannot start socat: ${e.message}`,
          ),
        );
      proc.once('error', onError);
      const tick = (): void => {
        if (/socat: (command )?not found/.test(stderr)) {
          proc.stdin!.end();
          reject(
            new Error(
              'socat is not installed (apt-get install socat): it makes the virtual serial ports',
            ),
          );
          return;
        }
        if (proc.exitCode !== null) {
          reject(new Error(`socat exited (${proc.exitCode}): ${stderr.trim()}`));
          return;
        }
        if (
          /starting data transfer loop/.test(stderr) &&
          existsSync(stationPath) &&
          existsSync(devicePath)
        ) {
          proc.off('error', onError);
          // Hold the station end open (never reading from it): socat ends when the last holder
          // of a pty closes it, and a station that disconnects must find the port still there.
          holder = openSync(
            stationPath,
            constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK,
          );
          resolve();
          return;
        }
        if (Date.now() > deadline) {
          proc.stdin!.end();
          reject(new Error(`socat did not create the ptys in time: ${stderr.trim()}`));
          return;
        }
        setTimeout(tick, 10);
      };
      tick();
    });
  };

  const stop = async (): Promise<void> => {
    if (holder !== undefined) closeSync(holder);
    holder = undefined;
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.stdin!.end(); // the shell kills socat, then exits
    });
  };

  await start();
  return {
    stationPath,
    devicePath,
    unplug: stop,
    replug: async () => {
      await stop();
      await start();
    },
    close: async () => {
      await stop();
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
