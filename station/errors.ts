/** Base of the errors the station's use cases throw for a refused request (not a bug). */
export class StationError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'StationError';
  }
}

/** The data directory holds no initialised station yet (`station init`). */
export class NotInitializedError extends StationError {
  constructor() {
    super('this station is not initialised yet: run `station init` first', 'not_initialized');
    this.name = 'NotInitializedError';
  }
}

/** Wrong user name or PIN, a locked or disabled account. */
export class AuthenticationError extends StationError {
  constructor(message: string, code = 'authentication_failed') {
    super(message, code);
    this.name = 'AuthenticationError';
  }
}

/** The user is authenticated but their role does not allow the action. */
export class PermissionError extends StationError {
  constructor(message: string) {
    super(message, 'permission_denied');
    this.name = 'PermissionError';
  }
}

/** Bad input to a use case (a malformed argument), naming what is wrong. */
export class InvalidInputError extends StationError {
  constructor(message: string) {
    super(message, 'invalid_input');
    this.name = 'InvalidInputError';
  }
}
