/**
 * The station's PIN pepper from its key custody (docs/key-custody.md, "PIN pepper"): a key that
 * only computes AES-CMAC over PIN hashes (station/users.ts), in the PKCS#11 token or, in
 * development, in the development key file. Without it the database cannot check a PIN.
 */
import type { CustodyPinPepper, TransportKeyCustody } from './custody.ts';
import { PIN_PEPPER_LABEL } from './custody.ts';
import { DevFileTransportKeyCustody } from './dev-key-file.ts';
import { KeyCustodyError } from './errors.ts';
import { Pkcs11TransportKeyCustody } from './pkcs11.ts';
import { openStationCustody } from './station-custody.ts';

/** The custody's PIN pepper, undefined when it holds none. */
export function pinPepperOf(custody: TransportKeyCustody): CustodyPinPepper | undefined {
  if (custody instanceof Pkcs11TransportKeyCustody || custody instanceof DevFileTransportKeyCustody)
    return custody.pinPepper();
  return undefined;
}

/** A PIN pepper usable until `close()` (which closes the custody that computes it). */
export interface OpenPinPepper {
  pepper: CustodyPinPepper;
  close(): Promise<void>;
}

/**
 * Opens the data directory's configured custody (its secret from the environment variable the
 * configuration names) and returns its PIN pepper; refuses a custody without one.
 */
export async function openStationPinPepper(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<OpenPinPepper> {
  const custody = await openStationCustody(dataDir, env);
  try {
    const pepper = pinPepperOf(custody);
    if (!pepper)
      throw new KeyCustodyError(
        'UNKNOWN_TRANSPORT_KEY',
        `the ${custody.kind} key custody of ${dataDir} holds no ${PIN_PEPPER_LABEL}: create it with "station keys pin-pepper create"`,
      );
    return { pepper, close: () => custody.close() };
  } catch (e) {
    await custody.close();
    throw e;
  }
}
