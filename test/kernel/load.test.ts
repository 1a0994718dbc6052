// Load on sipsecd in the lab (issue 8) at the load benchmark's tiny size
// (src/bench/load.ts: UA clients connected to each daemon, calls started
// open-loop across several peer address pairs, offer on a, answer on b,
// confirm on a, release on both after a hold).  The full figure (1,000
// clients per daemon, 200 calls/s across 100 peers for 60 s) is
// `npm run bench -- load --size full`.  Asserts the run itself, not timings:
// the capacity ramp ran without failures, no call failed nor was shed,
// every request answered, nothing left after the linger, RSS bounded, and a
// well-formed report.
import { describe, expect, it } from 'vitest';
import { LOAD_SIZES, loadReport, runLoad } from '../../src/bench/load.js';

describe('sipsecd under load', () => {
  it(`${LOAD_SIZES.tiny.clients} clients per daemon, ${LOAD_SIZES.tiny.rate} calls/s across ${LOAD_SIZES.tiny.side ** 2} peers for ${LOAD_SIZES.tiny.seconds} s: capacity ramp, no errors, nothing left, RSS bounded`, async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    const f = await runLoad(LOAD_SIZES.tiny);
    process.stdout.write(`LOAD ${JSON.stringify({ capacity: f.capacity, errors: f.errors.length, shed: f.shed, busy: f.busy, requests: f.requests, p50ms: f.latency.all.p50 / 1e6, p99ms: f.latency.all.p99 / 1e6, rssAt: f.rssAt })}\n`);
    expect(f.ramp.map((s) => s.concurrency)).toEqual(LOAD_SIZES.tiny.ramp.steps.slice(0, f.ramp.length));
    expect(f.ramp.every((s) => s.errors === 0 && s.requests.n > 0)).toBe(true);
    expect(f.errors).toEqual([]);
    expect(f.shed).toBe(0);
    expect(f.completed).toBe(f.calls);
    expect(f.requests).toBe(f.calls * 5);
    expect(f.sasLeft).toEqual({ a: 0, b: 0 });
    // Bounded memory: V8 grows its heap in steps, a leak per call would not stop; 64 MiB over a few calls is neither.
    for (const h of ['a', 'b'] as const) expect(f.rssAt.end[h] - f.rssAt.start[h]).toBeLessThan(64 * 1048576);
    const r = loadReport('tiny', f);
    for (const t of r.tables) for (const row of t.rows) expect(row).toHaveLength(t.headers.length);
    expect(r.svg['load-rss']).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
    expect(r.checks.find((c) => c.what.startsWith('failed calls'))?.met).toBe(true);
  }, 600_000);
});
