/**
 * Fuzz entry point for the sipsecd control socket (docs/PROTOCOL.md §2-§3):
 * the stream framing (FrameDecoder), the payload decoder (decodePayload) and
 * the request checks the server makes before dispatch (id, version, op,
 * argument schema of protocol.ts), in the server's order.
 *
 * The input is used twice: as a byte stream (cut into chunks at positions
 * the input itself chooses, so split and merged frames are exercised) and as
 * one frame payload (so mutated JSON reaches the schemas even when the
 * length prefix no longer matches).  Throws only on a bug: an error other
 * than FramingError out of the framing, a throw out of a schema, chunking
 * that changes the frames, or an error response that cannot be framed.
 */
import { isDeepStrictEqual } from 'node:util';
import { decodePayload, encodeFrame, FrameDecoder, FramingError, MAX_FRAME_BYTES } from './framing.js';
import { argSchemas, isRequestId, OPS, PROTOCOL_VERSION, type Op } from './protocol.js';

/** What the server would answer a payload before dispatch: an error code, or 'dispatch'. */
export function checkRequest(payload: Uint8Array): string {
  let msg: Record<string, unknown>;
  try {
    msg = decodePayload(payload);
  } catch (e) {
    if (e instanceof FramingError) return e.code;
    throw e;
  }
  if (!isRequestId(msg.id)) return 'bad-request';
  if (msg.v !== PROTOCOL_VERSION) return mustFrame('unsupported-version', `protocol version ${JSON.stringify(msg.v)} is not supported`);
  const op = msg.op;
  if (typeof op !== 'string' || !(OPS as string[]).includes(op)) return mustFrame('unknown-op', `unknown operation ${JSON.stringify(op)}`);
  const parsed = argSchemas[op as Op].safeParse(msg.args ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
    return mustFrame('invalid-args', `invalid arguments for ${op}`, issues);
  }
  return 'dispatch';
}

/** The error response must be framable, or fail only with the typed frame-too-large (the server then sends `internal`). */
function mustFrame(code: string, message: string, issues?: unknown): string {
  try {
    encodeFrame({ v: PROTOCOL_VERSION, id: 0, ok: false, error: { code, message, ...(issues ? { issues } : {}) } });
  } catch (e) {
    if (!(e instanceof FramingError && e.code === 'frame-too-large')) throw e;
  }
  return code;
}

/** Frames of `data` fed in chunks cut at `cuts`; stops at the first FramingError, as the server closes there. */
function frames(data: Uint8Array, cuts: number[]): { payloads: Buffer[]; error?: string } {
  const dec = new FrameDecoder(MAX_FRAME_BYTES);
  const payloads: Buffer[] = [];
  let at = 0;
  for (const end of [...cuts, data.length]) {
    try {
      payloads.push(...dec.push(data.subarray(at, end)));
    } catch (e) {
      if (e instanceof FramingError) return { payloads, error: e.code };
      throw e;
    }
    at = end;
  }
  return { payloads };
}

/**
 * Equal frames, or (after a framing error) the same error with the whole-input
 * frames a prefix of the chunked ones: push() throws away the frames completed
 * in the same call as an oversized header (the server closes the stream then).
 */
function sameStream(whole: ReturnType<typeof frames>, chunked: ReturnType<typeof frames>): boolean {
  if (whole.error === undefined) return isDeepStrictEqual(whole, chunked);
  return whole.error === chunked.error && isDeepStrictEqual(whole.payloads, chunked.payloads.slice(0, whole.payloads.length));
}

export function fuzzOneProtocol(data: Uint8Array): void {
  // Chunk boundaries chosen by the input: every byte value below 0x20 ends a chunk.
  const cuts: number[] = [];
  for (let i = 1; i < data.length; i++) if (data[i]! < 0x20) cuts.push(i);
  const whole = frames(data, []);
  const split = frames(data, cuts);
  // Byte by byte only for short inputs: the decoder re-concatenates its buffer on every push.
  const bytewise = data.length <= 256 ? frames(data, Array.from({ length: data.length - 1 }, (_, i) => i + 1)) : whole;
  if (!sameStream(whole, split) || !sameStream(whole, bytewise)) throw new Error('FrameDecoder: chunking changed the frames');
  for (const p of whole.payloads) checkRequest(p);
  checkRequest(data);
}
