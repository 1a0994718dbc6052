import { describe, it, expect } from 'vitest';
import {
  msToNtp,
  ntpToMs,
  dateToNtp,
  ntpToDate,
  counterToBytes,
  bytesToCounter,
  checkSkew,
  checkTimestamp,
} from '../../../src/mikey/timestamp.js';
import { TsType, tsValueLength } from '../../../src/mikey/payloads/t.js';
import { ReplayCache, ReplayError, DEFAULT_SKEW_WINDOW_MS, type ReplayEntry } from '../../../src/mikey/replay.js';
import { MikeyError, ErrNo } from '../../../src/mikey/errors.js';
import { hex } from './helpers.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);

function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

class Clock {
  constructor(public t: number) {}
  now = (): number => this.t;
}

const entry = (tMs: number, id = 'sip:alice@example.com', csbId = 0x12345678): ReplayEntry => ({
  initiatorId: id,
  csbId,
  tsType: TsType.NTP_UTC,
  tsValue: msToNtp(tMs),
});

describe('timestamps (RFC 3830 §6.6)', () => {
  it('Unix epoch is NTP seconds 2208988800 (0x83AA7E80)', () => {
    expect(hex(msToNtp(0))).toBe('83aa7e8000000000');
    expect(ntpToMs(Uint8Array.from(Buffer.from('83aa7e8000000000', 'hex')))).toBe(0);
  });

  it('half a second is fraction 0x80000000; ms round-trip exactly', () => {
    expect(hex(msToNtp(500)).slice(8)).toBe('80000000');
    for (const ms of [T0, T0 + 1, T0 + 999, T0 + 123_456]) expect(ntpToMs(msToNtp(ms))).toBe(ms);
    expect(ntpToDate(dateToNtp(new Date(T0))).getTime()).toBe(T0);
  });

  it('dates after 2036-02-07 use NTP era 1 and round-trip', () => {
    const t = Date.UTC(2040, 0, 1);
    const v = msToNtp(t);
    expect(v[0]! & 0x80).toBe(0);
    expect(ntpToMs(v)).toBe(t);
  });

  it('COUNTER is 32 bits big-endian', () => {
    expect(hex(counterToBytes(0x01020304))).toBe('01020304');
    expect(bytesToCounter(counterToBytes(0xffffffff))).toBe(0xffffffff);
    expect(() => counterToBytes(2 ** 32)).toThrow(MikeyError);
    expect(tsValueLength(TsType.COUNTER)).toBe(4);
    expect(tsValueLength(TsType.NTP)).toBe(8);
  });

  it('checkSkew accepts within the window and throws INVALID_TS outside it', () => {
    expect(() => checkSkew(T0 + 5 * MIN, T0, 5 * MIN)).not.toThrow();
    expect(() => checkSkew(T0 - 5 * MIN, T0, 5 * MIN)).not.toThrow();
    expect((caught(() => checkSkew(T0 + 5 * MIN + 1, T0, 5 * MIN)) as MikeyError).errNo).toBe(ErrNo.INVALID_TS);
    expect((caught(() => checkSkew(T0 - 5 * MIN - 1, T0, 5 * MIN)) as MikeyError).errNo).toBe(ErrNo.INVALID_TS);
  });

  it('checkTimestamp: NTP types by skew; COUNTER, unknown type and bad length are INVALID_TS', () => {
    expect(checkTimestamp(TsType.NTP, msToNtp(T0 + 1000), T0, MIN)).toBe(T0 + 1000);
    expect((caught(() => checkTimestamp(TsType.NTP_UTC, msToNtp(T0 + 2 * MIN), T0, MIN)) as MikeyError).errNo).toBe(ErrNo.INVALID_TS);
    expect((caught(() => checkTimestamp(TsType.COUNTER, counterToBytes(1), T0, MIN)) as MikeyError).errNo).toBe(ErrNo.INVALID_TS);
    expect((caught(() => checkTimestamp(7, msToNtp(T0), T0, MIN)) as MikeyError).errNo).toBe(ErrNo.INVALID_TS);
    expect((caught(() => checkTimestamp(TsType.NTP_UTC, new Uint8Array(4), T0, MIN)) as MikeyError).errNo).toBe(ErrNo.INVALID_TS);
  });
});

describe('ReplayCache (RFC 3830 §5.4)', () => {
  it('default skew window is 5 minutes', () => {
    expect(new ReplayCache().skewWindowMs).toBe(DEFAULT_SKEW_WINDOW_MS);
    expect(DEFAULT_SKEW_WINDOW_MS).toBe(5 * MIN);
  });

  it('check() records nothing; only commit() makes a later copy a replay', () => {
    const clock = new Clock(T0);
    const c = new ReplayCache({ now: clock.now });
    const e = entry(T0);
    c.check(e);
    c.check(e); // an unauthenticated copy does not poison the cache
    expect(c.size).toBe(0);
    c.commit(e);
    const err = caught(() => c.check(entry(T0)));
    expect(err).toBeInstanceOf(ReplayError);
    expect((err as ReplayError).reason).toBe('replay');
    expect((err as ReplayError).errNo).toBe(ErrNo.INVALID_TS);
    expect(() => c.commit(entry(T0))).toThrow(ReplayError);
  });

  it('another initiator, CSB ID or timestamp is a different message', () => {
    const c = new ReplayCache({ now: new Clock(T0).now });
    c.commit(entry(T0));
    expect(() => c.check(entry(T0, 'sip:bob@example.com'))).not.toThrow();
    expect(() => c.check(entry(T0, undefined, 1))).not.toThrow();
    expect(() => c.check(entry(T0 + 1))).not.toThrow();
  });

  it('refuses stale and future messages with reason skew', () => {
    const c = new ReplayCache({ now: new Clock(T0).now, skewWindowMs: MIN });
    expect((caught(() => c.check(entry(T0 - MIN - 1))) as ReplayError).reason).toBe('skew');
    expect((caught(() => c.check(entry(T0 + MIN + 1))) as ReplayError).reason).toBe('skew');
  });

  it('entries expire after t + window, and then the message is stale anyway', () => {
    const clock = new Clock(T0);
    const c = new ReplayCache({ now: clock.now, skewWindowMs: MIN });
    c.commit(entry(T0));
    clock.t = T0 + MIN;
    expect(c.size).toBe(1);
    expect((caught(() => c.check(entry(T0))) as ReplayError).reason).toBe('replay');
    clock.t = T0 + MIN + 1;
    expect(c.size).toBe(0);
    expect((caught(() => c.check(entry(T0))) as ReplayError).reason).toBe('skew');
  });

  it('entries committed out of time order each expire at their own t + window', () => {
    const clock = new Clock(T0);
    const c = new ReplayCache({ now: clock.now, skewWindowMs: MIN });
    // Peers' clocks differ: timestamps arrive in no particular order.
    const offsets = [30_000, -20_000, 50_000, 0, -59_000, 10_000, 40_000, -1_000, 20_000, 59_000];
    for (const o of offsets) c.commit(entry(T0 + o));
    for (const o of [...offsets].sort((a, b) => a - b)) {
      clock.t = T0 + o + MIN; // the last instant this entry is kept
      expect(c.size).toBe(offsets.filter((x) => x >= o).length);
      expect((caught(() => c.check(entry(T0 + o))) as ReplayError).reason).toBe('replay');
      clock.t = T0 + o + MIN + 1;
      expect(c.size).toBe(offsets.filter((x) => x > o).length);
    }
  });

  it('when full, refuses new messages (reason full) instead of forgetting entries', () => {
    const clock = new Clock(T0);
    const c = new ReplayCache({ now: clock.now, skewWindowMs: MIN, maxEntries: 2 });
    c.commit(entry(T0));
    c.commit(entry(T0 + 1));
    const err = caught(() => c.check(entry(T0 + 2))) as ReplayError;
    expect(err.reason).toBe('full');
    expect(err.errNo).toBe(ErrNo.UNSPECIFIED);
    expect((caught(() => c.check(entry(T0))) as ReplayError).reason).toBe('replay');
    clock.t = T0 + MIN + 1; // the first entry expired: room again
    expect(() => c.commit(entry(T0 + 30_000))).not.toThrow();
  });

  it('cold start refuses every message for one skew window, then accepts', () => {
    const clock = new Clock(T0);
    const c = new ReplayCache({ now: clock.now, skewWindowMs: MIN, coldStart: true });
    expect(c.cold).toBe(true);
    const err = caught(() => c.check(entry(T0))) as ReplayError;
    expect(err.reason).toBe('cold-start');
    expect(err.errNo).toBe(ErrNo.INVALID_TS);
    clock.t = T0 + MIN - 1;
    expect((caught(() => c.check(entry(clock.t))) as ReplayError).reason).toBe('cold-start');
    clock.t = T0 + MIN;
    expect(c.cold).toBe(false);
    // Anything sent before the restart is now outside the window.
    expect((caught(() => c.check(entry(T0 - 1))) as ReplayError).reason).toBe('skew');
    expect(() => c.commit(entry(clock.t))).not.toThrow();
  });

  it('serialize/restore keeps replays out across a restart and holds no key material', () => {
    const clock = new Clock(T0);
    const c = new ReplayCache({ now: clock.now, skewWindowMs: MIN });
    c.commit(entry(T0));
    c.commit({ initiatorId: 'sip:carol@example.com', csbId: 7, tsType: TsType.COUNTER, tsValue: counterToBytes(41) });
    const snap = c.serialize();
    expect(JSON.parse(snap)).toHaveProperty('v', 1);
    clock.t = T0 + 1000;
    const r = ReplayCache.restore(snap, { now: clock.now, skewWindowMs: MIN });
    expect(r.cold).toBe(false);
    expect((caught(() => r.check(entry(T0))) as ReplayError).reason).toBe('replay');
    expect(() => r.check(entry(T0 + 5))).not.toThrow();
    const counterErr = caught(() =>
      r.check({ initiatorId: 'sip:carol@example.com', csbId: 7, tsType: TsType.COUNTER, tsValue: counterToBytes(41) }),
    ) as ReplayError;
    expect(counterErr.reason).toBe('counter');
  });

  it('restore rejects malformed snapshots with a MikeyError', () => {
    for (const bad of ['not json', 'null', '{"v":2,"entries":[],"counters":[]}', '{"v":1,"entries":[[1,2]],"counters":[]}']) {
      expect(() => ReplayCache.restore(bad)).toThrow(MikeyError);
    }
  });

  it('COUNTER mode accepts only strictly increasing counters per initiator', () => {
    const c = new ReplayCache({ now: new Clock(T0).now });
    const ce = (n: number, id = 'sip:a@x'): ReplayEntry => ({ initiatorId: id, csbId: 1, tsType: TsType.COUNTER, tsValue: counterToBytes(n) });
    c.commit(ce(5));
    expect((caught(() => c.check(ce(5))) as ReplayError).reason).toBe('counter');
    expect((caught(() => c.check(ce(4))) as ReplayError).reason).toBe('counter');
    expect(() => c.check(ce(1, 'sip:b@x'))).not.toThrow();
    c.commit(ce(6));
    expect((caught(() => c.check(ce(6))) as ReplayError).reason).toBe('counter');
  });

  it('a TS value of the wrong length or unknown type is INVALID_TS', () => {
    const c = new ReplayCache({ now: new Clock(T0).now });
    expect((caught(() => c.check({ ...entry(T0), tsValue: new Uint8Array(3) })) as MikeyError).errNo).toBe(ErrNo.INVALID_TS);
    expect((caught(() => c.check({ ...entry(T0), tsType: 9 })) as MikeyError).errNo).toBe(ErrNo.INVALID_TS);
  });
});
