/**
 * A TCP proxy between the station and the central office that injects faults, one decision per
 * connection (tests use httpFetch below, which opens one connection per request):
 *
 * - `pass`: forwards both ways;
 * - `drop`: closes the station's connection before anything reaches the central office;
 * - `drop-answer`: forwards the request, then closes the station's connection as the answer
 *   starts: the central office stored the batch, the station never hears so;
 * - `delay`: holds the request `delayMs` before forwarding it;
 * - `error-5xx`: answers 503 itself; the central office sees nothing;
 * - `duplicate`: forwards the request, and sends the same bytes again on a second connection
 *   (a duplicated delivery; the second answer is thrown away);
 * - `replay-later`: forwards the request, and keeps a copy that is delivered after a later
 *   connection has gone through (a reordered, late duplicate).
 */
import { request as httpRequest } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';

export type Fault =
  'pass' | 'drop' | 'drop-answer' | 'delay' | 'error-5xx' | 'duplicate' | 'replay-later';

export interface FaultProxy {
  port: number;
  url: string;
  /** Decides the fault of each new connection. */
  policy: (n: number) => Fault;
  /** Where the central office is (changeable: a restarted central office may move). */
  target: { host: string; port: number };
  counts: Record<Fault, number>;
  delayMs: number;
  close(): Promise<void>;
}

function replay(target: { host: string; port: number }, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(target.port, target.host, () => s.write(bytes));
    s.on('data', () => undefined);
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    setTimeout(() => s.destroy(), 5000).unref();
  });
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const late: Buffer[] = [];
  let n = 0;
  const proxy: FaultProxy = {
    port: 0,
    url: '',
    policy: () => 'pass',
    target,
    counts: {
      pass: 0,
      drop: 0,
      'drop-answer': 0,
      delay: 0,
      'error-5xx': 0,
      duplicate: 0,
      'replay-later': 0,
    },
    delayMs: 50,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    const fault = proxy.policy(++n);
    proxy.counts[fault]++;
    if (fault === 'drop') return void client.destroy();
    const sent: Buffer[] = [];
    if (fault === 'error-5xx') {
      client.once('data', () => {
        const body = 'upstream unavailable';
        client.end(
          `HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        );
      });
      return;
    }
    const upstream = connect(proxy.target.port, proxy.target.host);
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    let answered = false;
    const forward = (chunk: Buffer) => {
      sent.push(chunk);
      if (fault === 'delay') setTimeout(() => upstream.write(chunk), proxy.delayMs);
      else upstream.write(chunk);
    };
    client.on('data', forward);
    upstream.on('data', (chunk: Buffer) => {
      if (!answered) {
        answered = true;
        const request = Buffer.concat(sent);
        if (fault === 'duplicate') void replay(proxy.target, request);
        if (fault === 'replay-later') late.push(request);
        else if (late.length > 0) for (const old of late.splice(0)) void replay(proxy.target, old);
        if (fault === 'drop-answer') {
          client.destroy();
          upstream.destroy();
          return;
        }
      }
      client.write(chunk);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  proxy.port = typeof addr === 'object' && addr ? addr.port : 0;
  proxy.url = `http://127.0.0.1:${proxy.port}`;
  return proxy;
}

/** A fetch over node:http with a fresh connection per request (no keep-alive), so each
 * request meets its own fault. */
export function httpFetch(url: string, init: RequestInit): Promise<Response> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const body = typeof init.body === 'string' ? init.body : '';
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: init.method ?? 'GET',
        headers: {
          ...(init.headers as Record<string, string>),
          'content-length': Buffer.byteLength(body),
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers))
            if (typeof v === 'string') headers.set(k, v);
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, headers }));
        });
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('connection closed mid-answer')));
      },
    );
    req.on('error', reject);
    const signal = init.signal;
    if (signal) {
      if (signal.aborted) req.destroy(new Error('aborted'));
      signal.addEventListener(
        'abort',
        () => req.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })),
        { once: true },
      );
    }
    req.end(body);
  });
}
