/**
 * The central office HTTP service: one Fastify app, one plugin per route group, bodies checked
 * with the zod schemas of contracts/sync.ts. `buildApp` takes an open database and keys, so
 * tests and `startCentral` (central/start.ts) build it the same way.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { SYNC_LIMITS, type SyncError } from '../contracts/sync.ts';
import { pruneNonces } from './auth.ts';
import type { CentralDb } from './db.ts';
import { pruneEnrolFailures } from './enrol-limit.ts';
import { CentralError } from './errors.ts';
import { CentralOffice } from './office.ts';
import type { CentralKey } from './secrets.ts';
import { adminRoutes } from './routes/admin.ts';
import { enrolRoutes } from './routes/enrol.ts';
import { pullRoutes } from './routes/pull.ts';
import { pushRoutes } from './routes/push.ts';
import { acceptRawJson } from './routes/sync-auth.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The central office's functions (central/office.ts), for in-process callers. */
    office: CentralOffice;
  }
}

export interface BuildAppOptions {
  db: CentralDb;
  key: CentralKey;
  adminToken: string;
  /** The clock (tests move it). */
  now?: () => Date;
  logger?: FastifyServerOptions['logger'];
}

/** Headers whose values are secrets or signatures: never logged. */
export const REDACTED_HEADERS = ['req.headers.authorization', 'req.headers["x-perso-signature"]'];

export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const now = opts.now ?? (() => new Date());
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: SYNC_LIMITS.maxBodyBytes,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  acceptRawJson(app);
  const office = new CentralOffice(opts.db.pool, opts.key);

  app.setErrorHandler((err, req, reply) => {
    let e: CentralError;
    const fe = err as {
      code?: string;
      validation?: { instancePath?: string; message?: string }[];
      statusCode?: number;
      message: string;
    };
    if (err instanceof CentralError) e = err;
    else if (fe.validation) {
      const v = fe.validation[0];
      const where = v?.instancePath
        ? v.instancePath.replace(/^\//, '').replaceAll('/', '.')
        : 'body';
      e = new CentralError('INVALID_BODY', `${where}: ${v?.message ?? 'invalid'}`);
    } else if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      e = new CentralError(
        'BODY_TOO_LARGE',
        `the body is larger than ${SYNC_LIMITS.maxBodyBytes} bytes`,
      );
    else if (fe.code?.startsWith('FST_ERR_CTP'))
      e = new CentralError('INVALID_BODY', 'the body must be JSON (application/json)');
    else {
      req.log.error({ err }, 'request failed');
      e = new CentralError('INTERNAL', 'the central office could not complete the request');
    }
    const body: SyncError = { error: { code: e.code, message: e.message, ...e.extra } };
    if (e.status >= 400 && e.status < 500) req.log.info({ code: e.code }, 'request refused');
    if (e.extra.retryAfterSeconds)
      void reply.header('retry-after', String(e.extra.retryAfterSeconds));
    void reply.status(e.status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` },
    });
  });

  await app.register(enrolRoutes, { office, now });
  await app.register(pushRoutes, { office, now });
  await app.register(pullRoutes, { office, now });
  await app.register(adminRoutes, { office, adminToken: opts.adminToken, now });

  const pruner = setInterval(() => {
    void pruneNonces(opts.db.pool, now()).catch(() => undefined);
    void pruneEnrolFailures(opts.db.pool, now()).catch(() => undefined);
  }, 60_000);
  pruner.unref();
  app.addHook('onClose', async () => clearInterval(pruner));
  app.decorate('office', office);
  return app;
}
