/**
 * Shared by the station routes: the body arrives as bytes (the digest is over the exact
 * bytes), the request is verified before anything in it is believed, then the body is read
 * with the strict JSON reader (duplicate keys refused) for the route's zod schema.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseStrictJson } from '../../contracts/strict-json.ts';
import { CentralError } from '../errors.ts';
import type { SignedRequest } from '../auth.ts';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
    stationId?: string;
  }
}

export function acceptRawJson(app: FastifyInstance): void {
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    req.rawBody = body as Buffer;
    done(null, undefined);
  });
}

export function signedRequestOf(req: FastifyRequest): SignedRequest {
  return {
    method: req.method,
    path: req.url,
    headers: req.headers,
    body: req.rawBody ?? Buffer.alloc(0),
  };
}

/** Replaces the body with its strict parse (after the request was verified). */
export function parseBody(req: FastifyRequest): void {
  const text = (req.rawBody ?? Buffer.alloc(0)).toString('utf8');
  try {
    req.body = parseStrictJson(text);
  } catch (e) {
    throw new CentralError('INVALID_BODY', (e as Error).message);
  }
}
