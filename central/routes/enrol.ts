/** POST /v1/enrol: a station spends its one-time code and registers its keys. */
import { createPublicKey } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  SYNC_PROTOCOL,
  enrolRequestSchema,
  enrolResponseSchema,
  keyAlgorithm,
} from '../../contracts/sync.ts';
import { checkSignature, readAuthHeaders } from '../auth.ts';
import { inTransaction } from '../db.ts';
import { checkEnrolLimit, lockEnrolAttempts, recordEnrolFailure } from '../enrol-limit.ts';
import { CentralError } from '../errors.ts';
import { codeDigest, type CentralOffice } from '../office.ts';
import { parseBody, signedRequestOf } from './sync-auth.ts';

export const enrolRoutes: FastifyPluginAsync<{ office: CentralOffice; now: () => Date }> = async (
  app,
  { office, now },
) => {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/v1/enrol',
    {
      schema: { body: enrolRequestSchema, response: { 200: enrolResponseSchema } },
      preValidation: async (req) => {
        // Headers first: the station id and the time come from them.
        readAuthHeaders(signedRequestOf(req));
        parseBody(req);
      },
    },
    async (req) => {
      const body = req.body;
      const at = now();
      const signed = signedRequestOf(req);
      const h = readAuthHeaders(signed);
      if (h.stationId !== body.stationId)
        throw new CentralError(
          'STATION_MISMATCH',
          `the body enrols ${body.stationId} but the request is signed as ${h.stationId}`,
        );
      let key;
      let auditKey;
      try {
        key = createPublicKey(body.publicKey);
        auditKey = createPublicKey(body.auditPublicKey);
      } catch {
        throw new CentralError('INVALID_BODY', 'publicKey or auditPublicKey is not a public key');
      }
      let alg;
      try {
        alg = keyAlgorithm(key);
      } catch {
        throw new CentralError(
          'INVALID_BODY',
          'publicKey: station keys are ECDSA P-256 or Ed25519',
        );
      }
      if (keyAlgorithm(auditKey) !== 'ecdsa-p256')
        throw new CentralError('INVALID_BODY', 'auditPublicKey: the audit key is ECDSA P-256');
      // Proof of possession: the request is signed with the key being enrolled.
      await checkSignature(office.pool, signed, h, key, at);
      const limits = await office.settings();
      const source = req.ip;
      // Under the advisory locks, the limit, the code and a failure's record are one step
      // (central/enrol-limit.ts); a wrong code is recorded and committed, then refused.
      const attempt = inTransaction(office.pool, async (c) => {
        await lockEnrolAttempts(c, body.stationId, source);
        await checkEnrolLimit(c, body.stationId, source, at, limits);
        const spent = await c.query(
          `UPDATE enrol_codes SET used_at = $3
            WHERE code_sha256 = $1 AND station_id = $2 AND used_at IS NULL AND expires_at > $3`,
          [codeDigest(body.code), body.stationId, at],
        );
        if (spent.rowCount !== 1) return recordEnrolFailure(c, body.stationId, source, at, limits);
        await c.query(
          `INSERT INTO stations (station_id, public_key, key_alg, audit_public_key, enrolled_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (station_id) DO UPDATE SET public_key = excluded.public_key,
             key_alg = excluded.key_alg, audit_public_key = excluded.audit_public_key,
             enrolled_at = excluded.enrolled_at, revoked_at = NULL`,
          [body.stationId, body.publicKey, alg, body.auditPublicKey, at],
        );
        return 0;
      });
      const failures = await attempt.catch((e: unknown) => {
        if (e instanceof CentralError && e.code === 'ENROL_RATE_LIMITED')
          req.log.warn(
            {
              stationId: body.stationId,
              source,
              retryAfterSeconds: e.extra.retryAfterSeconds,
            },
            'enrolment refused: too many wrong codes',
          );
        throw e;
      });
      if (failures > 0) {
        // Who and from where, never the code that was tried.
        req.log.warn(
          {
            stationId: body.stationId,
            source,
            failures,
            maxFailures: limits.enrolMaxFailuresPerStation,
            windowMinutes: limits.enrolLockoutMinutes,
          },
          'enrolment code refused',
        );
        // One answer for unknown, used, expired or another station's code: no oracle.
        throw new CentralError(
          'ENROL_CODE_INVALID',
          `the enrolment code is not valid for station ${body.stationId} (unknown, used, expired or issued for another station): ask the central office for a new one`,
        );
      }
      req.log.info({ stationId: body.stationId, keyAlg: alg }, 'station enrolled');
      return {
        protocol: SYNC_PROTOCOL,
        stationId: body.stationId,
        enrolledAt: at.toISOString(),
        centralPublicKey: office.key.publicKeyPem,
        centralKeyId: office.key.keyId,
      } as const;
    },
  );
};
