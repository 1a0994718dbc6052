// Hardening regressions found in issue 8 (bad input reaching the daemon's edges).
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../src/agent/config.js';
import { FrameDecoder } from '../../../src/agent/framing.js';

describe('config: YAML aliases', () => {
  const text = (match: string) => `identities:
  - uri: sip:alice@example.org
    addresses: ["10.0.0.1"]
peers:
  - match: ${match}
    mode: psk
    psk: { hex: "00112233" }
`;

  it('an unquoted *@domain (a YAML alias) is a ConfigError that says to quote it, not a raw ReferenceError', () => {
    let err: unknown;
    try {
      parseConfig(text('*@example.org'), '/nonexistent/sipsecd.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toMatch(/quote/);
  });

  it('an alias bomb is a ConfigError', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 8; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill('*' + String.fromCharCode(96 + i)).join(',')}]`);
    expect(() => parseConfig(bomb.join('\n') + '\n', '/nonexistent/sipsecd.yaml')).toThrow(/YAML: .*alias/i);
  });
});

describe('FrameDecoder', () => {
  it('reassembles a 64 KiB frame trickled one byte at a time (the server then reads it once)', () => {
    const d = new FrameDecoder();
    const payload = Buffer.from(JSON.stringify({ pad: 'x'.repeat(65536 - 12) }));
    const frame = Buffer.concat([Buffer.alloc(4), payload]);
    frame.writeUInt32BE(payload.length);
    const got: Buffer[] = [];
    for (let i = 0; i < frame.length - 1; i++) got.push(...d.push(frame.subarray(i, i + 1)));
    expect([got.length, d.partial]).toEqual([0, true]);
    got.push(...d.push(frame.subarray(frame.length - 1)));
    expect(d.partial).toBe(false);
    expect(got).toHaveLength(1);
    expect(got[0]!.equals(payload)).toBe(true);
  });
});
