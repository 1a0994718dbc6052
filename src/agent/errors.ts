/**
 * `RequestError`: what a request handler throws to answer with a typed error
 * response `{ok:false, error:{code, message, ...extra}}`.  Any other thrown
 * value becomes a generic `internal` error (its text is logged, never sent).
 * `extra` is sent as is: never put key material in it.
 */
import type { ErrorCode } from './protocol.js';

export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra response fields, e.g. { sipStatus: 488, mikey: '<base64 error message>', mikeyErr: 5 }. */
    readonly extra: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}
