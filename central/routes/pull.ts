/** POST /v1/pull: what waits for a station after its cursor, and its signed allowance. */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { SYNC_LIMITS, pullRequestSchema, pullResponseSchema } from '../../contracts/sync.ts';
import { verifyStationRequest } from '../auth.ts';
import { CentralError } from '../errors.ts';
import type { CentralOffice } from '../office.ts';
import { parseBody, signedRequestOf } from './sync-auth.ts';

export const pullRoutes: FastifyPluginAsync<{ office: CentralOffice; now: () => Date }> = async (
  app,
  { office, now },
) => {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/v1/pull',
    {
      schema: { body: pullRequestSchema, response: { 200: pullResponseSchema } },
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
      return office.pull(
        req.stationId!,
        req.body.cursor,
        req.body.limit ?? SYNC_LIMITS.maxPullItems,
        now(),
      );
    },
  );
};
