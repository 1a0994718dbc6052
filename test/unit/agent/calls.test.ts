// The daemon's call table: a prepared (ringing) call gives its pair back when
// it is dropped (release) or not accepted in time, and not once accepted.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CallTable } from '../../../src/agent/calls.js';
import type { CallInfo } from '../../../src/agent/protocol.js';

const info = (callId: string): CallInfo => ({ callId, ownerUid: 1000, localUri: 'sip:bob@example.org', peerUri: 'sip:alice@example.org', state: 'prepared', createdAt: 0 });

describe('CallTable: prepared calls', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('gives the pair back when the call is not activated within its time, and forgets the call', async () => {
    const t = new CallTable(async () => undefined);
    const given: string[] = [];
    t.prepared(info('c1'), 1000, async () => void given.push('c1'));
    await vi.advanceTimersByTimeAsync(999);
    expect(given).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(given).toEqual(['c1']);
    expect(t.get('c1')).toBeUndefined();
  });

  it('gives it back on drop (release), once; an accepted call (takePrepared) keeps it and does not expire', async () => {
    const t = new CallTable(async () => undefined);
    const given: string[] = [];
    t.prepared(info('c2'), 1000, async () => void given.push('c2'));
    t.prepared(info('c3'), 1000, async () => void given.push('c3'));
    await t.drop('c2');
    await t.drop('c2');
    expect(given).toEqual(['c2']);
    expect(t.takePrepared('c3')).toBe(true);
    expect(t.takePrepared('c3')).toBe(false);
    await vi.advanceTimersByTimeAsync(2000);
    expect(given).toEqual(['c2']);
    expect(t.get('c3')?.state).toBe('prepared');
  });
});
