/** Why a key-custody operation failed. Messages name what is wrong and never carry key bytes,
 * PINs or passphrases. */
export type KeyCustodyErrorCode =
  | 'INVALID_INPUT'
  | 'UNKNOWN_TRANSPORT_KEY'
  | 'KEY_ALREADY_EXISTS'
  | 'KEY_NOT_PROTECTED'
  | 'DEVELOPMENT_ONLY'
  | 'SECRET_MISSING'
  | 'WRONG_PASSPHRASE'
  | 'KEY_FILE_INVALID'
  | 'KEY_FILE_EXISTS'
  | 'KEY_FILE_MISSING'
  | 'MODULE_LOAD_FAILED'
  | 'TOKEN_NOT_FOUND'
  | 'PIN_REFUSED'
  | 'TOKEN_ERROR'
  | 'CONFIG_INVALID'
  | 'CLOSED'
  | 'AUDIT_KEY_MISSING'
  | 'ANCHOR_INVALID'
  | 'DATA_KEY_MISSING'
  | 'UNWRAP_FAILED';

export class KeyCustodyError extends Error {
  constructor(
    readonly code: KeyCustodyErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'KeyCustodyError';
  }
}
