/**
 * A holder for key material read from the configuration (PSKs, private keys).
 *
 * Its bytes never show in JSON, util.inspect, String() or template literals:
 * all of them render `<secret N bytes>`.  `wipe()` zero-fills the bytes; a
 * wiped secret refuses to be read.
 */
import { inspect } from 'node:util';

export class Secret {
  readonly #bytes: Uint8Array;
  #wiped = false;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get length(): number {
    return this.#bytes.length;
  }

  /** The key bytes themselves (not a copy: do not keep or log them). */
  bytes(): Uint8Array {
    if (this.#wiped) throw new Error('secret was wiped');
    return this.#bytes;
  }

  wipe(): void {
    this.#bytes.fill(0);
    this.#wiped = true;
  }

  toString(): string {
    return `<secret ${this.#bytes.length} bytes>`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
