/** POST /v1/push: outbox records, audit entries and stock on hand from a station. */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { pushRequestSchema, pushResponseSchema } from '../../contracts/sync.ts';
import { verifyStationRequest } from '../auth.ts';
import { CentralError } from '../errors.ts';
import { ingestPush } from '../ingest.ts';
import type { CentralOffice } from '../office.ts';
import { parseBody, signedRequestOf } from './sync-auth.ts';

export const pushRoutes: FastifyPluginAsync<{ office: CentralOffice; now: () => Date }> = async (
  app,
  { office, now },
) => {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/v1/push',
    {
      schema: { body: pushRequestSchema, response: { 200: pushResponseSchema } },
      preValidation: async (req) => {
        const station = await verifyStationRequest(office.pool, signedRequestOf(req), now());
        req.stationId = station.station_id;
        parseBody(req);
      },
    },
    async (req) => {
      if (req.body.stationId !== req.stationId)
        throw new CentralError(
          'STATION_MISMATCH',
          `the body is for station ${req.body.stationId} but signed by ${req.stationId}`,
        );
      return ingestPush(office.pool, req.stationId!, req.body, now());
    },
  );
};
