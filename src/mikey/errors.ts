/**
 * Typed MIKEY errors.
 *
 * RFC 3830 §6.12 (Error payload, ERR): every failure the protocol can report
 * to the peer carries one of these error numbers.  A `MikeyError` is the only
 * exception that may leave the MIKEY codec, crypto and mode code; it carries
 * the ERR code to answer with, so the caller can build the error response of
 * RFC 3830 §5.1.2 without guessing.
 *
 *                       1
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Next payload  ! Err no        ! Reserved                      !
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Messages never contain key material (enforced by review and by tests).
 */

/** RFC 3830 §6.12 "Err no" values; names as in Wireshark's MIKEY dissector. */
export const ErrNo = {
  AUTH_FAILURE: 0,
  INVALID_TS: 1,
  INVALID_PRF: 2,
  INVALID_MAC: 3,
  INVALID_EA: 4,
  INVALID_HA: 5,
  INVALID_DH: 6,
  INVALID_ID: 7,
  INVALID_CERT: 8,
  INVALID_SP: 9,
  INVALID_SPPAR: 10,
  INVALID_DT: 11,
  UNSPECIFIED: 12,
} as const;

export type ErrNo = (typeof ErrNo)[keyof typeof ErrNo];

const ERR_NAMES: Record<ErrNo, string> = {
  0: 'Authentication failure',
  1: 'Invalid timestamp',
  2: 'PRF function not supported',
  3: 'MAC algorithm not supported',
  4: 'Encryption algorithm not supported',
  5: 'Hash function not supported',
  6: 'DH group not supported',
  7: 'ID not supported',
  8: 'Certificate not supported',
  9: 'SP type not supported',
  10: 'SP parameter not supported',
  11: 'Data type not supported',
  12: 'Unspecified error',
};

export function errNoName(code: number): string {
  return (ERR_NAMES as Record<number, string>)[code] ?? `Unknown error ${code}`;
}

/**
 * The one exception type of src/mikey.  `errNo` is what the responder puts in
 * its ERR payload; `detail` says precisely what was wrong (never a key).
 */
export class MikeyError extends Error {
  override readonly name = 'MikeyError';
  constructor(
    readonly errNo: ErrNo,
    readonly detail: string,
  ) {
    super(`MIKEY ${errNoName(errNo)}: ${detail}`);
  }
}

/** Malformed or truncated input: RFC 3830 has no better code than Unspecified. */
export function malformed(detail: string): MikeyError {
  return new MikeyError(ErrNo.UNSPECIFIED, detail);
}
