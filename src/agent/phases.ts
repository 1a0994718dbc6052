/**
 * Opt-in per-request phase timing (`SIPSECD_PHASES=1` in sipsecd's
 * environment, or an admin's `stats` with `phases: true`), reported by the
 * `stats` operation: where a request's time
 * goes inside the daemon.  A request's clock starts when its frame has been
 * read off the socket; each `lap(phase)` adds the time since the previous lap
 * to that phase of the request, and `end()` (after the reply was handed to
 * the socket) records the request's totals.  Phases (PHASES below):
 *
 *   parse    JSON decode + schema validation of the arguments
 *   queued   admitted, until the handler starts (a promise hop; the wait
 *            behind earlier requests on the same call is in the handler's
 *            phases)
 *   mikey    the MIKEY work (decode, MAC or signature, key derivation)
 *   kernel   netlink requests until their ACKs (ALLOCSPI, the SA batch)
 *   journal  state journal append + fdatasync
 *   handler  the rest of the handler (ops without finer laps: all of it)
 *   reply    encoding the response frame and writing it to the socket
 *
 * Off, no request has a `RequestPhases` and the callers' `phases?.lap()` is
 * one undefined check: no clock read, no allocation.  On, every lap is one
 * clock read (a real syscall in UML, ~40 µs there: the figures then include
 * that much per phase).  Each phase of each op keeps the last RING samples in
 * a preallocated ring, so memory stays bounded.
 */
import { summarize } from '../bench/stats.js';

export const PHASES = ['parse', 'queued', 'mikey', 'kernel', 'journal', 'handler', 'reply'] as const;
export type Phase = (typeof PHASES)[number];

/** Samples kept per op and phase (the most recent ones). */
const RING = 4096;

/** Percentiles of one phase, microseconds. */
export interface PhaseSummary {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
}

class Ring {
  readonly samples = new Float64Array(RING);
  count = 0;
  add(v: number): void {
    this.samples[this.count++ % RING] = v;
  }
  summary(): PhaseSummary {
    const s = summarize(Array.from(this.samples.subarray(0, Math.min(this.count, RING))));
    const us = (ns: number) => Math.round(ns / 100) / 10;
    return { n: this.count, p50: us(s.p50), p90: us(s.p90), p99: us(s.p99), mean: us(s.mean) };
  }
}

/** Phase samples of every op, and the requests being timed. */
export class PhaseStats {
  readonly #ops = new Map<string, Map<Phase | 'total', Ring>>();

  /** Off: requests get no phase clock. */
  constructor(public enabled: boolean) {}

  /** A request read off the socket now. */
  begin(): RequestPhases {
    return new RequestPhases(this);
  }

  record(op: string, totals: Float64Array, total: number): void {
    let rings = this.#ops.get(op);
    if (!rings) this.#ops.set(op, (rings = new Map()));
    const add = (p: Phase | 'total', v: number) => {
      let r = rings.get(p);
      if (!r) rings.set(p, (r = new Ring()));
      r.add(v);
    };
    PHASES.forEach((p, i) => totals[i]! > 0 && add(p, totals[i]!));
    add('total', total);
  }

  /** Per op, per phase (and `total`, frame read → reply written): percentiles in µs. */
  summary(): Record<string, Record<string, PhaseSummary>> {
    const out: Record<string, Record<string, PhaseSummary>> = {};
    for (const [op, rings] of this.#ops) out[op] = Object.fromEntries([...rings].map(([p, r]) => [p, r.summary()]));
    return out;
  }

  reset(): void {
    this.#ops.clear();
  }
}

/** One request's phase clock. */
export class RequestPhases {
  readonly #totals = new Float64Array(PHASES.length);
  readonly #start: bigint;
  #last: bigint;
  op = '';

  constructor(private readonly stats: PhaseStats) {
    this.#start = this.#last = process.hrtime.bigint();
  }

  /** Add the time since the previous lap to `phase`. */
  lap(phase: Phase): void {
    const now = process.hrtime.bigint();
    this.#totals[PHASES.indexOf(phase)]! += Number(now - this.#last);
    this.#last = now;
  }

  /** The request's arguments are parsed: it is an `op` request from here, and the time so far is `parse`. */
  parsed(op: string): void {
    this.op = op;
    this.lap('parse');
  }

  /** Close the last phase and record the request (once; only requests that reached an op). */
  end(last: Phase): void {
    this.lap(last);
    if (this.op) this.stats.record(this.op, this.#totals, Number(this.#last - this.#start));
    this.op = '';
  }
}
