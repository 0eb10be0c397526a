/**
 * The admin API of the central office (`central` command, tests): bearer token from the data
 * directory. Not part of the station contract.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { stationIdSchema } from '../../contracts/sync.ts';
import { CentralError } from '../errors.ts';
import { settingsSchema, type CentralOffice } from '../office.ts';
import { parseBody } from './sync-auth.ts';

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export const adminRoutes: FastifyPluginAsync<{
  office: CentralOffice;
  adminToken: string;
  now: () => Date;
}> = async (app, { office, adminToken, now }) => {
  const expected = sha(adminToken);
  app.addHook('preValidation', async (req: FastifyRequest) => {
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!given || !timingSafeEqual(sha(given), expected))
      throw new CentralError(
        'ADMIN_UNAUTHORIZED',
        'an admin token is required (Authorization: Bearer)',
      );
    if (req.rawBody) parseBody(req);
  });
  const r = app.withTypeProvider<ZodTypeProvider>();
  const stationParam = z.strictObject({ stationId: stationIdSchema });

  r.post(
    '/admin/enrol-codes',
    { schema: { body: z.strictObject({ stationId: stationIdSchema }) } },
    async (req) => {
      const issued = await office.issueEnrolCode(req.body.stationId, now());
      req.log.info({ stationId: issued.stationId }, 'enrolment code issued');
      return issued;
    },
  );
  r.post('/admin/stations/:stationId/revoke', { schema: { params: stationParam } }, async (req) => {
    await office.revokeStation(req.params.stationId, now());
    req.log.info({ stationId: req.params.stationId }, 'station revoked');
    return { stationId: req.params.stationId, revoked: true };
  });
  r.get('/admin/stations', async () => ({ stations: await office.stations() }));
  r.post(
    '/admin/pull-items',
    {
      schema: {
        body: z.strictObject({ stationId: stationIdSchema.nullable(), item: z.json() }),
      },
    },
    async (req) => ({ seq: await office.addPullItem(req.body.stationId, req.body.item, now()) }),
  );
  r.post(
    '/admin/lost-stolen',
    {
      schema: {
        body: z.strictObject({
          serial: z.string(),
          status: z.enum(['lost', 'stolen', 'cleared']),
        }),
      },
    },
    async (req) => ({
      seq: await office.reportLostStolen(req.body.serial, req.body.status, now()),
    }),
  );
  r.get('/admin/settings', async () => office.settings());
  r.put('/admin/settings', { schema: { body: settingsSchema.partial() } }, async (req) =>
    office.updateSettings(req.body),
  );
  r.get(
    '/admin/reports/daily',
    {
      schema: {
        querystring: z.strictObject({
          from: z.iso.date().optional(),
          to: z.iso.date().optional(),
        }),
      },
    },
    async (req) => ({ days: await office.dailyCounts(req.query) }),
  );
  r.get(
    '/admin/reports/silent',
    { schema: { querystring: z.strictObject({ hours: z.coerce.number().min(0).default(24) }) } },
    async (req) => ({ stations: await office.silentStations(req.query.hours, now()) }),
  );
  r.get('/admin/reports/waiting', async () => ({ stations: await office.recordsWaiting() }));
  r.get('/admin/reports/stock', async () => office.stockReport(now()));
  r.get(
    '/admin/audit-flags',
    { schema: { querystring: z.strictObject({ station: stationIdSchema.optional() }) } },
    async (req) => ({ flags: await office.auditFlags(req.query.station) }),
  );
};
