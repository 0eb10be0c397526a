/**
 * Building and signing a full LDS (EF.COM, DG1, DG2 with a ~20 KB JPEG face, DG7, DG11, DG12,
 * DG15, EF.SOD with ECDSA P-256 / SHA-256) on one core: median time per document and the
 * resulting documents per second. Target: at least 200 per second.
 *
 *   node bin/run-ts.mjs bench/lds.ts [iterations]
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildLds, parseApplication, signLds } from '../mrtd/application.ts';
import { passiveAuthentication } from '../mrtd/passive-auth.ts';
import { createTestPki } from '../mrtd/pki.ts';
import { PemKeySigner } from '../mrtd/signer.ts';

const fixtures = join(import.meta.dirname, '../test/fixtures/mrtd');
const iterations = Number(process.argv[2] ?? 2000);
const app = parseApplication(JSON.parse(readFileSync(join(fixtures, 'application.json'), 'utf8')));
const face = readFileSync(join(fixtures, 'face-20k.jpg'));
const signature = readFileSync(join(fixtures, 'signature.jpg'));
const pki = await createTestPki({ country: 'PE' });
const signer = new PemKeySigner(pki.ds.privateKeyPem);
const aa = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({
  type: 'spki',
  format: 'der',
});

async function once(): Promise<Map<string, Buffer>> {
  const lds = buildLds(app, { face, signature }, { activeAuthenticationPublicKey: aa });
  await signLds(lds, { signer, dsCertificate: pki.ds.certificateDer });
  return lds.files;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

// Warm up, and check once that what we time is a valid LDS.
for (let i = 0; i < 200; i++) await once();
const check = await passiveAuthentication({
  files: await once(),
  cscas: [pki.csca.certificatePem],
});
if (!check.ok) throw new Error('benchmark LDS fails passive authentication');

const times: number[] = [];
const start = performance.now();
for (let i = 0; i < iterations; i++) {
  const t = performance.now();
  await once();
  times.push(performance.now() - t);
}
const total = performance.now() - start;
const med = median(times);
console.log(`face image: ${face.length} bytes; ${iterations} documents`);
console.log(
  `build + sign one LDS: median ${med.toFixed(3)} ms, p95 ${[...times].sort((a, b) => a - b)[Math.floor(times.length * 0.95)]!.toFixed(3)} ms`,
);
console.log(
  `throughput on one core: ${(1000 / med).toFixed(0)} per second (median), ${((iterations * 1000) / total).toFixed(0)} per second (overall)`,
);
console.log(`target 200 per second: ${1000 / med >= 200 ? 'met' : 'NOT met'}`);
