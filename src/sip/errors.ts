/**
 * Typed SIP-side errors.
 *
 * Every codec in src/sip throws only `SipError` subclasses.  Each carries the
 * SIP status code a UAS should answer with (RFC 3261 §21.4): 400 Bad Request
 * for malformed input, 413 Request Entity Too Large for a body over our
 * bounds, 415 Unsupported Media Type for a body we do not understand, 488 Not
 * Acceptable Here for an SDP we cannot use, 505 Version Not Supported, 513
 * Message Too Large.  `detail` says what was wrong and
 * never holds a password, a key or a body.
 */
export type SipStatus = 400 | 413 | 415 | 488 | 505 | 513;

export class SipError extends Error {
  override readonly name: string = 'SipError';
  constructor(
    readonly status: SipStatus,
    readonly detail: string,
  ) {
    super(`SIP ${status}: ${detail}`);
  }
}

/** A SIP message (start line, headers, framing) that does not parse. */
export class SipParseError extends SipError {
  override readonly name = 'SipParseError';
  constructor(detail: string, status: SipStatus = 400) {
    super(status, detail);
  }
}

/** A message body (multipart, MIME part, transfer encoding) we cannot use. */
export class SipBodyError extends SipError {
  override readonly name = 'SipBodyError';
  constructor(status: 400 | 413 | 415, detail: string) {
    super(status, detail);
  }
}

/** An SDP body that parses but does not describe usable media (RFC 3264). */
export class SdpError extends SipError {
  override readonly name = 'SdpError';
  constructor(detail: string, status: 400 | 488 = 488) {
    super(status, detail);
  }
}

/** A digest challenge we cannot answer (RFC 7616 §3.3). */
export class DigestError extends SipError {
  override readonly name = 'DigestError';
  constructor(detail: string) {
    super(400, detail);
  }
}
