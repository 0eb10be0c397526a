/** The document engine: ICAO Doc 9303 structures and chip access cryptography, as pure functions. */
export * from './tlv.ts';
export * from './mrz.ts';
export * from './image.ts';
export * from './lds.ts';
export * from './sod.ts';
export * from './signer.ts';
export * from './pki.ts';
export * from './application.ts';
export * from './passive-auth.ts';
export * from './active-auth.ts';
export * from './des.ts';
export * from './bac.ts';
export * from './secure-messaging.ts';
export * from './scp03.ts';
export * from './chip-io.ts';
export * from './perso-commands.ts';
export * from './border-reader.ts';
export { aesCmac } from './cmac.ts';
