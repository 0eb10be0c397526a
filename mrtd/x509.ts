/**
 * @peculiar/x509 with what it needs loaded first: its dependency injection container
 * (tsyringe) requires the Reflect metadata polyfill, and it uses Node's WebCrypto.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
