/** Transport-key custody: the public surface of station/keys. */
export {
  checkAgency,
  checkKeyVersion,
  keyCheckValue,
  parseTransportKeyLabel,
  PIN_PEPPER_LABEL,
  type CustodyPinPepper,
  transportKeyLabel,
  type ChipIdentity,
  type ChipTransportKeys,
  type TransportKeyCustody,
  type TransportKeyInfo,
} from './custody.ts';
export {
  addPinPepperToDevKeyFile,
  addToDevKeyFile,
  createDevKeyFile,
  DEV_KEY_FILE_FORMAT,
  DevFileTransportKeyCustody,
  type DevKeyEntry,
  type DevKeyFileWriteOptions,
} from './dev-key-file.ts';
export { KeyCustodyError, type KeyCustodyErrorCode } from './errors.ts';
export {
  isDevelopmentMode,
  KEY_CUSTODY_CONFIG_FILE,
  keyCustodyConfigSchema,
  openTransportKeyCustody,
  readKeyCustodyConfig,
  writeKeyCustodyConfig,
  type KeyCustodyConfig,
  type OpenCustodyOptions,
} from './open.ts';
export {
  createPinPepperKey,
  importTransportMasterKey,
  Pkcs11TransportKeyCustody,
  type ImportedKey,
  type Pkcs11Target,
} from './pkcs11.ts';
export { openStationPinPepper, pinPepperOf, type OpenPinPepper } from './pin-pepper.ts';
