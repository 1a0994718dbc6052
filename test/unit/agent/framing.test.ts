import { describe, expect, it } from 'vitest';
import { decodePayload, encodeFrame, FrameDecoder, FramingError, MAX_FRAME_BYTES } from '../../../src/agent/framing.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FramingError);
    return (e as FramingError).code;
  }
  throw new Error('did not throw');
}

describe('framing', () => {
  it('encodes a 4-byte big-endian length then UTF-8 JSON', () => {
    const f = encodeFrame({ op: 'ping', s: 'é' });
    expect(f.readUInt32BE(0)).toBe(f.length - 4);
    expect(f.subarray(4).toString('utf8')).toBe('{"op":"ping","s":"é"}');
  });

  it('reassembles a frame split byte by byte', () => {
    const d = new FrameDecoder();
    const f = encodeFrame({ id: 1 });
    const out: Buffer[] = [];
    for (let i = 0; i < f.length; i++) {
      out.push(...d.push(f.subarray(i, i + 1)));
      expect(d.partial).toBe(i < f.length - 1);
    }
    expect(out.map((p) => decodePayload(p))).toEqual([{ id: 1 }]);
  });

  it('splits merged frames, keeping a trailing partial one', () => {
    const d = new FrameDecoder();
    const a = encodeFrame({ id: 1 });
    const b = encodeFrame({ id: 2 });
    const c = encodeFrame({ id: 3 });
    const all = Buffer.concat([a, b, c]);
    const first = d.push(all.subarray(0, a.length + b.length + 3));
    expect(first.map((p) => decodePayload(p))).toEqual([{ id: 1 }, { id: 2 }]);
    expect(d.partial).toBe(true);
    expect(d.push(all.subarray(a.length + b.length + 3)).map((p) => decodePayload(p))).toEqual([{ id: 3 }]);
    expect(d.partial).toBe(false);
  });

  it('rejects an oversized frame from its header alone', () => {
    const d = new FrameDecoder();
    const h = Buffer.alloc(4);
    h.writeUInt32BE(MAX_FRAME_BYTES + 1);
    expect(codeOf(() => d.push(h))).toBe('frame-too-large');
    expect(codeOf(() => encodeFrame({ s: 'x'.repeat(MAX_FRAME_BYTES) }))).toBe('frame-too-large');
    // exactly the limit is fine
    const ok = Buffer.alloc(4 + MAX_FRAME_BYTES, 0x20);
    ok.writeUInt32BE(MAX_FRAME_BYTES);
    expect(new FrameDecoder().push(ok)).toHaveLength(1);
  });

  it('garbage payloads are typed bad-json errors', () => {
    expect(codeOf(() => decodePayload(Buffer.from('{"a":')))).toBe('bad-json');
    expect(codeOf(() => decodePayload(Buffer.alloc(0)))).toBe('bad-json');
    expect(codeOf(() => decodePayload(Buffer.from([0xff, 0xfe, 0x7b, 0x7d])))).toBe('bad-json');
    expect(codeOf(() => decodePayload(Buffer.from('[1,2]')))).toBe('bad-json');
    expect(codeOf(() => decodePayload(Buffer.from('null')))).toBe('bad-json');
    expect(codeOf(() => decodePayload(Buffer.from('"str"')))).toBe('bad-json');
  });

  it('random bytes never escape as a raw error', () => {
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) & 0xff;
    for (let n = 0; n < 500; n++) {
      const d = new FrameDecoder(1024);
      const bytes = Buffer.from(Array.from({ length: 1 + (rnd() % 64) }, rnd));
      try {
        for (const p of d.push(bytes)) {
          try {
            decodePayload(p);
          } catch (e) {
            expect(e).toBeInstanceOf(FramingError);
          }
        }
      } catch (e) {
        expect(e).toBeInstanceOf(FramingError);
      }
    }
  });
});
