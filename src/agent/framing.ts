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
  // Chunks since the last frame boundary, joined only when a header or a whole
  // frame is there to read: a frame trickled in byte by byte costs O(length), not O(length²).
  #parts: Buffer[] = [];
  #size = 0;
  /** Header + payload bytes of the frame being received; -1 until its header is complete. */
  #need = -1;

  constructor(private readonly max = MAX_FRAME_BYTES) {}

  /**
   * Add bytes; returns every payload completed by them, in order.  Throws
   * FramingError('frame-too-large') as soon as a header announces more than
   * `max` bytes (before buffering them): the stream cannot be resynchronised
   * after that, so the caller should close it.
   */
  push(chunk: Uint8Array): Buffer[] {
    if (chunk.length > 0) {
      this.#parts.push(Buffer.from(chunk));
      this.#size += chunk.length;
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.#need < 0) {
        if (this.#size < HEADER_BYTES) break;
        const len = this.#joined().readUInt32BE(0);
        if (len > this.max) throw new FramingError('frame-too-large', `frame of ${len} bytes exceeds the ${this.max}-byte limit`);
        this.#need = HEADER_BYTES + len;
      }
      if (this.#size < this.#need) break;
      const buf = this.#joined();
      out.push(buf.subarray(HEADER_BYTES, this.#need));
      const rest = buf.subarray(this.#need);
      this.#parts = rest.length > 0 ? [rest] : [];
      this.#size = rest.length;
      this.#need = -1;
    }
    return out;
  }

  /** True while part of a frame is buffered (the slowloris timer runs then). */
  get partial(): boolean {
    return this.#size > 0;
  }

  #joined(): Buffer {
    if (this.#parts.length > 1) this.#parts = [Buffer.concat(this.#parts, this.#size)];
    return this.#parts[0]!;
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
