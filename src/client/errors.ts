/**
 * `SipsecClientError`: every failure of a sipsecd request.  `code` is the
 * daemon's error code (see docs/PROTOCOL.md §5) or one of the client's own:
 * `timeout` (sent, no answer in time), `connection-lost` (sent, then the
 * connection dropped before the answer: the daemon may or may not have
 * carried it out; never resent), `connection-closed` (not sent: the client
 * is closed, or sipsecd was not reachable within the request's timeout),
 * `protocol` (the daemon sent something unreadable).  `extra` holds the
 * daemon's additional fields, e.g. `sipStatus` and `mikey` for an answer to
 * be sent as a SIP error, or `retryAfterMs` on a `busy` refusal.
 */
export class SipsecClientError extends Error {
  override readonly name = 'SipsecClientError';
  constructor(
    readonly code: string,
    message: string,
    readonly extra: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }

  /** SIP status the UA should answer with, when the daemon gave one (e.g. 488). */
  get sipStatus(): number | undefined {
    return typeof this.extra.sipStatus === 'number' ? this.extra.sipStatus : undefined;
  }

  /** Base64 MIKEY error message to put in the SIP error response, when the daemon made one. */
  get mikey(): string | undefined {
    return typeof this.extra.mikey === 'string' ? this.extra.mikey : undefined;
  }

  /**
   * `busy`: when to send the request again, ms (the daemon's estimate, already
   * spread so that refused clients do not all return at once).  A UA answering
   * an INVITE turns it into 503 with Retry-After (RFC 3261 §21.5.4, §20.33).
   */
  get retryAfterMs(): number | undefined {
    return typeof this.extra.retryAfterMs === 'number' ? this.extra.retryAfterMs : undefined;
  }

  /** MIKEY Error payload code (RFC 3830 §6.12), when the daemon gave one. */
  get mikeyErr(): number | undefined {
    return typeof this.extra.mikeyErr === 'number' ? this.extra.mikeyErr : undefined;
  }
}
