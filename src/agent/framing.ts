/**
 * Framing of the sipsecd control socket (docs/PROTOCOL.md §2).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                  length (uint32, big-endian)                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |            length bytes of UTF-8 JSON (one object)            ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The length counts the payload only and is at most MAX_FRAME_BYTES (64 KiB).
 * Pure: the decoder is fed chunks as they arrive and returns whole payloads.
 */

export const MAX_FRAME_BYTES = 64 * 1024;
const HEADER_BYTES = 4;

export class FramingError extends Error {
  override readonly name = 'FramingError';
  constructor(
    readonly code: 'frame-too-large' | 'bad-json',
    message: string,
  ) {
    super(message);
  }
}

/** One frame: length prefix + UTF-8 JSON of `value`.  Throws FramingError if it would exceed `max`. */
export function encodeFrame(value: unknown, max = MAX_FRAME_BYTES): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  if (json.length > max) throw new FramingError('frame-too-large', `frame of ${json.length} bytes exceeds the ${max}-byte limit`);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + json.length);
  frame.writeUInt32BE(json.length, 0);
  json.copy(frame, HEADER_BYTES);
  return frame;
}

/** Reassembles frames from a byte stream: split and merged chunks both work. */
export class FrameDecoder {
  #buf: Buffer = Buffer.alloc(0);

  constructor(private readonly max = MAX_FRAME_BYTES) {}

  /**
   * Add bytes; returns every payload completed by them, in order.  Throws
   * FramingError('frame-too-large') as soon as a header announces more than
   * `max` bytes (before buffering them): the stream cannot be resynchronised
   * after that, so the caller should close it.
   */
  push(chunk: Uint8Array): Buffer[] {
    this.#buf = this.#buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#buf, chunk]);
    const out: Buffer[] = [];
    while (this.#buf.length >= HEADER_BYTES) {
      const len = this.#buf.readUInt32BE(0);
      if (len > this.max) throw new FramingError('frame-too-large', `frame of ${len} bytes exceeds the ${this.max}-byte limit`);
      if (this.#buf.length < HEADER_BYTES + len) break;
      out.push(this.#buf.subarray(HEADER_BYTES, HEADER_BYTES + len));
      this.#buf = this.#buf.subarray(HEADER_BYTES + len);
    }
    return out;
  }

  /** True while part of a frame is buffered (the slowloris timer runs then). */
  get partial(): boolean {
    return this.#buf.length > 0;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decode a payload as one JSON object.  Throws FramingError('bad-json') for bad UTF-8, bad JSON or a non-object. */
export function decodePayload(payload: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(payload));
  } catch {
    throw new FramingError('bad-json', 'frame is not valid UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FramingError('bad-json', 'frame is not a JSON object');
  }
  return value as Record<string, unknown>;
}
