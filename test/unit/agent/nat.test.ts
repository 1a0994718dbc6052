// NAT traversal in sipsecd: the nat config section's defaults and checks, and
// the RFC 3948 §2.3 keepalive schedule.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { configSchema } from '../../../src/agent/config-schema.js';
import { NatKeepalives } from '../../../src/agent/nat.js';
import type { Logger } from '../../../src/agent/log.js';

const base = { identities: [{ uri: 'sip:alice@example.org', addresses: ['192.0.2.1'] }] };

describe('nat config section', () => {
  it('defaults to auto on port 4500 with 20 s keepalives', () => {
    expect(configSchema.parse(base).nat).toEqual({ traversal: 'auto', port: 4500, keepaliveSeconds: 20 });
  });
  it('accepts off and refuses unknown modes, bad ports and misspelt keys', () => {
    expect(configSchema.parse({ ...base, nat: { traversal: 'off' } }).nat.traversal).toBe('off');
    for (const nat of [{ traversal: 'force' }, { port: 0 }, { port: 65536 }, { keepaliveSeconds: 0 }, { keepalive: 20 }]) {
      expect(configSchema.safeParse({ ...base, nat }).success, JSON.stringify(nat)).toBe(false);
    }
  });
});

describe('NatKeepalives', () => {
  const warnings: string[] = [];
  const log = { debug: () => undefined, info: () => undefined, warn: (m: string) => warnings.push(m), error: () => undefined } as unknown as Logger;
  beforeEach(() => {
    vi.useFakeTimers();
    warnings.length = 0;
  });
  afterEach(() => vi.useRealTimers());

  it('sends one keepalive at once, then one per interval to every tracked peer, none after untrack', () => {
    const sent: string[] = [];
    const k = new NatKeepalives({ sendKeepalive: (a, p) => sent.push(`${a}:${p}`) }, 20_000, log);
    k.track('192.168.1.2|10.0.0.2', '10.0.0.2', 4500);
    expect(sent).toEqual(['10.0.0.2:4500']);
    k.track('192.168.1.2|10.0.0.3', '10.0.0.3', 4501);
    vi.advanceTimersByTime(20_000);
    expect(sent.slice(2)).toEqual(['10.0.0.2:4500', '10.0.0.3:4501']);
    k.untrack('192.168.1.2|10.0.0.2');
    vi.advanceTimersByTime(20_000);
    expect(sent.slice(4)).toEqual(['10.0.0.3:4501']);
    k.untrack('192.168.1.2|10.0.0.3');
    expect(vi.getTimerCount()).toBe(0);
    k.close();
  });

  it('a failing send is logged, not thrown, and the schedule goes on', () => {
    let n = 0;
    const k = new NatKeepalives({ sendKeepalive: () => { n++; throw new Error('ENETUNREACH'); } }, 1000, log);
    expect(() => k.track('a|b', '10.0.0.2', 4500)).not.toThrow();
    vi.advanceTimersByTime(3000);
    expect(n).toBe(4);
    expect(warnings).toEqual(Array(4).fill('NAT keepalive failed'));
    k.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});
