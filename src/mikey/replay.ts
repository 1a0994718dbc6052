/**
 * Replay protection for received MIKEY messages, RFC 3830 §5.3-§5.4.
 *
 * Order of checks on the responder (REFERENCE.md §2, §5.4): timestamp skew,
 * then the replay cache, then the MAC/signature; only AUTHENTICATED messages
 * enter the cache.  The API makes the split explicit:
 *
 *   cache.check(entry)   // before authentication: fresh? not seen? room?
 *   ...verify MAC / signature...
 *   cache.commit(entry)  // after authentication succeeded
 *
 * An unauthenticated message never enters the cache, so a forger cannot fill
 * it or block a later genuine message.
 *
 * Entry identity: (initiator ID, CSB ID, TS type, TS value).  The timestamp
 * is what §5.4 relies on for uniqueness; the initiator's identity and the CSB
 * ID scope it, both being covered by the MAC/signature.
 *
 * Expiry: a message with time t passes the skew check only while
 * now <= t + window, so its entry can be dropped after t + window.
 *
 * Purging expired entries costs O(log n) each (a min-heap ordered by expiry
 * beside the map), never a scan of the whole cache per message: entries are
 * not inserted in expiry order (peers' clocks differ within the window).
 *
 * Bounded size: when the cache is full (after dropping expired entries) new
 * messages are REFUSED rather than old entries forgotten — forgetting an
 * unexpired entry would re-open the window for replaying it.
 *
 * COUNTER timestamps (§6.6) carry no time: per initiator the last accepted
 * counter is kept and only a strictly larger one is fresh.  These never
 * expire, so COUNTER freshness survives a restart only through persistence.
 *
 * Restart: either `ReplayCache.restore(serialized)` from a copy written after
 * EVERY commit (before the response leaves), or a cold start that refuses
 * every message for one skew window, after which every message that was
 * fresh before the restart has gone stale (§5.4: a lost cache means rejecting
 * everything for one skew interval).  The serialized form holds identities,
 * CSB IDs and timestamps only, never keys.
 *
 * Default window: RFC 3830 §5.4 leaves the allowable clock skew to local
 * policy and trades it against the cache's size.  We use 5 minutes, the
 * customary Kerberos skew: NTP-synchronised SIP endpoints stay well inside
 * it, while SIP retransmissions (up to 32 s) and slow answers fit, and the
 * cache holds at most five minutes of call set-ups.  (minisip allows one
 * hour, MAX_TIME_OFFSET: twelve times the replay state for no gain when the
 * clocks are synchronised; raise `skewWindowMs` to interoperate with badly
 * synchronised peers.)
 */
import { MikeyError, ErrNo, malformed, type ErrNo as ErrNoT } from './errors.js';
import { checkSkew, ntpToMs, bytesToCounter } from './timestamp.js';
import { TsType, tsValueLength } from './payloads/t.js';

export const DEFAULT_SKEW_WINDOW_MS = 5 * 60 * 1000;
export const DEFAULT_MAX_ENTRIES = 10_000;

export interface ReplayEntry {
  /** The initiator's identity as authenticated (IDi, or the certificate's SIP URI). */
  initiatorId: string;
  csbId: number;
  /** §6.6 TS type of the message's T payload. */
  tsType: number;
  /** The T payload's TS value bytes. */
  tsValue: Uint8Array;
}

export type ReplayReason = 'skew' | 'replay' | 'cold-start' | 'full' | 'counter';

/** A refused message; `reason` lets the mode code drop replays silently. */
export class ReplayError extends MikeyError {
  constructor(
    readonly reason: ReplayReason,
    errNo: ErrNoT,
    detail: string,
  ) {
    super(errNo, detail);
  }
}

export interface ReplayCacheOptions {
  /** Allowed |T - now| in ms (default 5 min). */
  skewWindowMs?: number;
  /** Most unexpired entries held (default 10000). */
  maxEntries?: number;
  /** Clock in Unix ms (default Date.now). */
  now?: () => number;
  /** Refuse every message for one skew window from construction (no persisted cache). */
  coldStart?: boolean;
  /** Told of every committed entry, for a journal that must hold it before the response leaves. */
  onCommit?: (r: ReplayRecord) => void;
}

/** One committed entry, as `onCommit` reports it and `restore` takes it back. */
export type ReplayRecord = { key: string; expiry: number } | { initiatorId: string; counter: number };

interface Serialized {
  v: 1;
  entries: [string, number][];
  counters: [string, number][];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class ReplayCache {
  readonly skewWindowMs: number;
  readonly maxEntries: number;
  readonly #now: () => number;
  readonly #onCommit: ((r: ReplayRecord) => void) | undefined;
  /** entry key -> expiry (Unix ms). */
  readonly #entries = new Map<string, number>();
  /** The same entries as a binary min-heap on expiry (parallel arrays), for `#purge`. */
  readonly #heapExpiry: number[] = [];
  readonly #heapKey: string[] = [];
  /** initiator ID -> last accepted COUNTER. */
  readonly #counters = new Map<string, number>();
  #coldUntil: number;

  constructor(opts: ReplayCacheOptions = {}) {
    this.skewWindowMs = opts.skewWindowMs ?? DEFAULT_SKEW_WINDOW_MS;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!(this.skewWindowMs > 0) || !Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw malformed('replay cache needs a positive skew window and maxEntries');
    }
    this.#now = opts.now ?? Date.now;
    this.#onCommit = opts.onCommit;
    this.#coldUntil = opts.coldStart ? this.#now() + this.skewWindowMs : -Infinity;
  }

  /** Number of unexpired time-based entries held. */
  get size(): number {
    this.#purge(this.#now());
    return this.#entries.size;
  }

  /** True while a cold start refuses every message. */
  get cold(): boolean {
    return this.#now() < this.#coldUntil;
  }

  /**
   * Before authentication: throws ReplayError when the message is not fresh
   * (reason 'skew' or 'counter', ErrNo INVALID_TS), already seen ('replay',
   * INVALID_TS), arrives during a cold start ('cold-start', INVALID_TS) or the
   * cache has no room ('full', UNSPECIFIED).  Adds nothing.
   */
  check(entry: ReplayEntry): void {
    this.#evaluate(entry);
  }

  /** After successful authentication: re-checks (atomically) and records the message. */
  commit(entry: ReplayEntry): void {
    const r = this.#evaluate(entry);
    if (r.kind === 'counter') {
      this.#counters.set(entry.initiatorId, r.counter);
      this.#onCommit?.({ initiatorId: entry.initiatorId, counter: r.counter });
    } else {
      this.#add(r.key, r.expiry);
      this.#onCommit?.({ key: r.key, expiry: r.expiry });
    }
  }

  /** Keys are unique: `#evaluate` refuses one already held. */
  #add(key: string, expiry: number): void {
    this.#entries.set(key, expiry);
    const ex = this.#heapExpiry;
    const keys = this.#heapKey;
    let i = ex.length;
    ex.push(expiry);
    keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (ex[parent]! <= expiry) break;
      ex[i] = ex[parent]!;
      keys[i] = keys[parent]!;
      i = parent;
    }
    ex[i] = expiry;
    keys[i] = key;
  }

  #evaluate(e: ReplayEntry): { kind: 'time'; key: string; expiry: number } | { kind: 'counter'; counter: number } {
    const now = this.#now();
    if (now < this.#coldUntil) {
      throw new ReplayError('cold-start', ErrNo.INVALID_TS, 'replay cache is cold after a restart: refusing messages for one skew window');
    }
    const len = tsValueLength(e.tsType);
    if (e.tsValue.length !== len) throw new ReplayError('skew', ErrNo.INVALID_TS, `TS value is ${e.tsValue.length} bytes, expected ${len}`);
    if (e.tsType === TsType.COUNTER) {
      const counter = bytesToCounter(e.tsValue);
      const last = this.#counters.get(e.initiatorId);
      if (last !== undefined && counter <= last) {
        throw new ReplayError('counter', ErrNo.INVALID_TS, 'COUNTER is not larger than the last accepted one');
      }
      return { kind: 'counter', counter };
    }
    const tMs = ntpToMs(e.tsValue);
    try {
      checkSkew(tMs, now, this.skewWindowMs);
    } catch (err) {
      throw new ReplayError('skew', ErrNo.INVALID_TS, (err as MikeyError).detail);
    }
    const key = `${e.initiatorId}\u0000${e.csbId >>> 0}\u0000${e.tsType}\u0000${hex(e.tsValue)}`;
    this.#purge(now);
    if (this.#entries.has(key)) throw new ReplayError('replay', ErrNo.INVALID_TS, 'message was already received (replay)');
    if (this.#entries.size >= this.maxEntries) {
      throw new ReplayError('full', ErrNo.UNSPECIFIED, 'replay cache is full: refusing new messages');
    }
    return { kind: 'time', key, expiry: tMs + this.skewWindowMs };
  }

  /** Drop every entry with expiry < now: pop the heap's minimum while it has expired. */
  #purge(now: number): void {
    const ex = this.#heapExpiry;
    const keys = this.#heapKey;
    while (ex.length > 0 && ex[0]! < now) {
      this.#entries.delete(keys[0]!);
      const lastExpiry = ex.pop()!;
      const lastKey = keys.pop()!;
      const n = ex.length;
      if (n === 0) break;
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && ex[child + 1]! < ex[child]!) child++;
        if (ex[child]! >= lastExpiry) break;
        ex[i] = ex[child]!;
        keys[i] = keys[child]!;
        i = child;
      }
      ex[i] = lastExpiry;
      keys[i] = lastKey;
    }
  }

  /** JSON snapshot for persistence (identities, CSB IDs, timestamps; no keys). */
  serialize(): string {
    this.#purge(this.#now());
    const s: Serialized = { v: 1, entries: [...this.#entries], counters: [...this.#counters] };
    return JSON.stringify(s);
  }

  /**
   * Rebuild a warm cache from `serialize()` output and the records committed
   * after it (`onCommit`, in order), with no cold start.  Sound only if every
   * commit was written before its response left; otherwise construct with
   * `coldStart: true`.  Malformed input is MikeyError(UNSPECIFIED).
   */
  static restore(serialized: string, opts: Omit<ReplayCacheOptions, 'coldStart'> = {}, after: readonly ReplayRecord[] = []): ReplayCache {
    let parsed: unknown;
    try {
      parsed = JSON.parse(serialized);
    } catch {
      throw malformed('replay cache snapshot is not JSON');
    }
    const s = parsed as Partial<Serialized> | null;
    const isPairs = (a: unknown): a is [string, number][] =>
      Array.isArray(a) &&
      a.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && Number.isFinite(p[1]));
    if (!s || s.v !== 1 || !isPairs(s.entries) || !isPairs(s.counters)) {
      throw malformed('replay cache snapshot has an unknown shape');
    }
    const cache = new ReplayCache(opts);
    for (const [k, expiry] of s.entries) if (!cache.#entries.has(k)) cache.#add(k, expiry);
    for (const [id, c] of s.counters) cache.#counters.set(id, c);
    for (const r of after) {
      if ('counter' in r) cache.#counters.set(r.initiatorId, Math.max(r.counter, cache.#counters.get(r.initiatorId) ?? -Infinity));
      else if (!cache.#entries.has(r.key)) cache.#add(r.key, r.expiry);
    }
    cache.#purge(cache.#now());
    if (cache.#entries.size > cache.maxEntries) throw malformed('replay cache snapshot exceeds maxEntries');
    return cache;
  }
}
