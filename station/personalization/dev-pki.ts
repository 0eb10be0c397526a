/**
 * A development station's Document Signers: two test PKIs made by the dev seed, one standing
 * for production (`pki/csca.crt`, `pki/ds.crt`, `pki/ds.key`) and one for TEST jobs
 * (`pki/test-csca.crt`, ...), with distinct CSCAs, and `document-signers.json` naming them. The
 * keys are PEM files, which the station uses only in development mode.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PRIVATE_DIR_MODE, writeFileAtomically } from '../../db/private-files.ts';
import { createTestPki } from '../../mrtd/pki.ts';
import { writeDocumentSignersConfig } from './signers.ts';

export async function createDevPki(dataDir: string, stationId: string): Promise<void> {
  const dir = join(dataDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const write = (name: string, text: string, mode: number): void =>
    writeFileAtomically(join(dir, name), text, { mode, exclusive: true });
  const make = async (prefix: string, organization: string) => {
    const pki = await createTestPki({ country: 'PE', organization });
    write(`${prefix}csca.crt`, pki.csca.certificatePem, 0o644);
    write(`${prefix}ds.crt`, pki.ds.certificatePem, 0o644);
    write(`${prefix}ds.key`, pki.ds.privateKeyPem, 0o600);
    return {
      certificate: `pki/${prefix}ds.crt`,
      key: `pki/${prefix}ds.key`,
      csca: `pki/${prefix}csca.crt`,
    };
  };
  writeDocumentSignersConfig(dataDir, {
    production: await make('', `Perso Station DEVELOPMENT ${stationId}`),
    test: await make('test-', `Perso Station SPECIMEN ${stationId}`),
  });
}
