/** The admin client names what went wrong with an office's answer, whatever came back. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCall } from './admin-client.ts';

let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/proxy') {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad Gateway</html>');
    } else if (req.url === '/refused') {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'FORBIDDEN', message: 'wrong admin token' } }));
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, auth: req.headers.authorization }));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('adminCall', () => {
  it('returns the answer, the token in the Authorization header', async () => {
    expect(await adminCall(url, 't0k', 'GET', '/ok')).toEqual({ ok: true, auth: 'Bearer t0k' });
  });
  it('names the office error code and message', async () => {
    await expect(adminCall(url, 't', 'GET', '/refused')).rejects.toThrow(
      /GET \/refused at .*: HTTP 403 FORBIDDEN: wrong admin token/,
    );
  });
  it('names an answer that is not JSON (a proxy page) instead of a parse error', async () => {
    await expect(adminCall(url, 't', 'POST', '/proxy', {})).rejects.toThrow(
      /POST \/proxy at .*: HTTP 502, an answer that is not JSON \("<html>Bad Gateway/,
    );
  });
});
