/**
 * load: sipsecd under load (issue 8).  Two real daemons (a: alice, b: bob) in
 * the lab, each with `clients` UA connections on its socket; calls start
 * open-loop at `rate` per second for `seconds` across `peers` address pairs
 * (offer on a, answer on b, confirm on a, hold, release on both).  Reported:
 * request latency per operation (p50/p90/p99/max), the ratio of the p99 under
 * load to the p50 of the same requests on the idle daemons just before (the
 * baseline of this run), errors, the rate achieved, each daemon's RSS at the
 * start, middle and end of the load, and the SAs left after release + linger.
 *
 * `--size full` is the figure of issue 8: 1,000 clients per daemon, 200 calls/s
 * across 100 peers for 60 s.
 */
import { performance } from 'node:perf_hooks';
import { SipsecClientError, type SipsecClient } from '../client/client.js';
import type { SuiteName } from '../kernel/algorithms.js';
import { createTopology, type Topology } from '../lab/topology.js';
import { toCsv } from './csv.js';
import { ALICE, BOB, requireLab, rssOf, startDaemon, type Daemon } from './lab-env.js';
import type { BenchResult, BenchSize, Check } from './results.js';
import { fmtNs, fmtRatio, ratio, summarize, type Summary } from './stats.js';
import { lineChart } from './svg.js';

const SUITE: SuiteName = 'aes-gcm-128';
const OPS = ['offer', 'answer', 'confirm', 'release'] as const;
type LoadOp = (typeof OPS)[number];

export interface LoadSpec {
  /** UA connections on each daemon's socket. */
  clients: number;
  /** Calls started per second (open loop). */
  rate: number;
  /** Peer address pairs: side × side (a's side addresses × b's). */
  side: number;
  seconds: number;
  holdMs: number;
}

export const LOAD_SIZES: Record<BenchSize, LoadSpec> = {
  tiny: { clients: 20, rate: 2, side: 2, seconds: 3, holdMs: 1000 },
  small: { clients: 200, rate: 50, side: 5, seconds: 20, holdMs: 1000 },
  full: { clients: 1000, rate: 200, side: 10, seconds: 60, holdMs: 1000 },
};

/** Calls on the idle daemons before the load: the latency baseline of this run. */
const IDLE_CALLS = 20;
/** Calls started at most before the scheduler yields, when behind schedule. */
const BATCH = 100;
/** Seconds a released peer's SAs linger in both daemons. */
const LINGER = 1;
/** Flat memory: RSS growth over the second half of the load, as a share of the RSS at its middle. */
const FLAT_SHARE = 0.1;

interface RssSample {
  t: number;
  a: number;
  b: number;
}

export interface LoadFigures {
  spec: LoadSpec;
  calls: number;
  requests: number;
  errors: string[];
  /** Failed calls by the client error code of their first failed request (busy, timeout, ...). */
  errorsByCode: Record<string, number>;
  /** Calls that completed every request. */
  completed: number;
  offeredSeconds: number;
  doneSeconds: number;
  latency: Record<LoadOp | 'all', Summary>;
  idle: Record<LoadOp | 'all', Summary>;
  rss: RssSample[];
  rssAt: { start: RssSample; middle: RssSample; end: RssSample };
  sasLeft: { a: number; b: number };
}

export async function benchLoad(size: BenchSize, onProgress: (what: string) => void = () => undefined): Promise<BenchResult> {
  return loadReport(size, await runLoad(LOAD_SIZES[size], onProgress));
}

export async function runLoad(spec: LoadSpec, onProgress: (what: string) => void = () => undefined): Promise<LoadFigures> {
  requireLab();
  const as = Array.from({ length: spec.side }, (_, i) => `10.1.0.${i + 1}`);
  const bs = Array.from({ length: spec.side }, (_, i) => `10.1.0.${i + 101}`);
  const t = await createTopology(
    { hosts: [{ name: 'a', addrs: as.map((x) => `${x}/16`) }, { name: 'b', addrs: bs.map((x) => `${x}/16`) }], links: [{ type: 'veth', a: 'a', b: 'b' }] },
    'bld-',
  );
  const daemons: Daemon[] = [];
  const clients: SipsecClient[] = [];
  try {
    onProgress('starting the daemons');
    const opts = { maxConnections: spec.clients + 16, linger: LINGER };
    const da = await startDaemon(t, 'a', { uri: ALICE, addr: as[0]! }, BOB, SUITE, { ...opts, addrs: as });
    daemons.push(da);
    const db = await startDaemon(t, 'b', { uri: BOB, addr: bs[0]! }, ALICE, SUITE, { ...opts, addrs: bs });
    daemons.push(db);
    onProgress(`connecting ${spec.clients} clients to each daemon`);
    const ca: SipsecClient[] = [];
    const cb: SipsecClient[] = [];
    for (let i = 0; i < spec.clients; i++) {
      ca.push(await da.client());
      cb.push(await db.client());
      clients.push(ca[i]!, cb[i]!);
    }
    const peerOf = (n: number) => {
      const peer = n % (spec.side * spec.side);
      return { aAddr: as[peer % spec.side]!, bAddr: bs[Math.floor(peer / spec.side)]! };
    };
    const oneCall = async (callId: string, x: SipsecClient, y: SipsecClient, n: number, holdMs: number, lat: Record<LoadOp, number[]>) => {
      const { aAddr, bAddr } = peerOf(n);
      const timed = async <T>(op: LoadOp, f: () => Promise<T>): Promise<T> => {
        const t0 = performance.now();
        const r = await f();
        lat[op].push((performance.now() - t0) * 1e6);
        return r;
      };
      const offer = await timed('offer', () => x.offer({ callId, localUri: ALICE, peerUri: BOB, localAddress: aAddr }));
      const answer = await timed('answer', () => y.answer({ callId, localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: aAddr, localAddress: bAddr }));
      await timed('confirm', () => x.confirm({ callId, mikey: answer.mikey, peerAddress: bAddr }));
      if (holdMs) await new Promise((r) => setTimeout(r, holdMs));
      await timed('release', () => x.release(callId));
      await timed('release', () => y.release(callId));
    };
    const emptyLat = (): Record<LoadOp, number[]> => ({ offer: [], answer: [], confirm: [], release: [] });

    onProgress(`${IDLE_CALLS} calls on the idle daemons (baseline)`);
    const idleLat = emptyLat();
    for (let i = 0; i < IDLE_CALLS; i++) await oneCall(`idle-${i}`, ca[i % spec.clients]!, cb[i % spec.clients]!, i, 0, idleLat);

    const lat = emptyLat();
    const errors: string[] = [];
    const errorsByCode: Record<string, number> = {};
    const rss: RssSample[] = [];
    const wall0 = performance.now();
    const sample = async () => rss.push({ t: (performance.now() - wall0) / 1000, a: await rssOf(da.pid), b: await rssOf(db.pid) });
    await sample();
    const sampler = setInterval(() => void sample().catch(() => undefined), 1000);
    const total = Math.round(spec.seconds * spec.rate);
    const running: Promise<void>[] = [];
    let done = 0;
    let started = 0;
    let lastProgress = 0;
    try {
      // Open loop: calls start on schedule whether or not earlier ones finished.  Behind
      // schedule it starts every call now due (at most BATCH) and then yields: never
      // yielding sent every request before reading any answer (all of them then timed
      // out at once), and one start per loop turn fell ever further behind.
      while (started < total) {
        const due = Math.min(total, Math.floor(((performance.now() - wall0) * spec.rate) / 1000) + 1);
        if (due <= started) {
          await new Promise((r) => setTimeout(r, wall0 + (started * 1000) / spec.rate - performance.now()));
          continue;
        }
        for (const end = Math.min(due, started + BATCH); started < end; ) {
          const n = started++;
          running.push(
            oneCall(`load-${n}`, ca[n % spec.clients]!, cb[n % spec.clients]!, n, spec.holdMs, lat)
              .catch(async (e: unknown) => {
                const code = e instanceof SipsecClientError ? e.code : 'other';
                errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
                errors.push(`load-${n}: ${(e as Error).message}`);
                // As a UA does when its call fails: release what either daemon holds of it.
                await releaseQuietly(ca[n % spec.clients]!, `load-${n}`);
                await releaseQuietly(cb[n % spec.clients]!, `load-${n}`);
              })
              .finally(() => void done++),
          );
        }
        if (performance.now() - lastProgress > 5000) {
          lastProgress = performance.now();
          onProgress(`${((lastProgress - wall0) / 1000).toFixed(0)} s: ${started}/${total} calls started, ${done} done, ${errors.length} errors`);
        }
        await new Promise((r) => setImmediate(r));
      }
      const offeredSeconds = (performance.now() - wall0) / 1000;
      await Promise.all(running);
      const doneSeconds = (performance.now() - wall0) / 1000;
      clearInterval(sampler);
      await sample();
      if (errors.length) {
        for (const d of daemons) onProgress(`daemon log tail:\n${d.logTail().split('\n').slice(-20).join('\n')}`);
      }
      onProgress('waiting out the linger');
      await new Promise((r) => setTimeout(r, LINGER * 1000 + 1500));
      const sasLeft = { a: await countSas(t, 'a'), b: await countSas(t, 'b') };
      const all = (l: Record<LoadOp, number[]>) => [...l.offer, ...l.answer, ...l.confirm, ...l.release];
      const sum = (l: Record<LoadOp, number[]>) =>
        Object.fromEntries([...OPS.map((op) => [op, summarize(l[op].length ? l[op] : [NaN])]), ['all', summarize(all(l).length ? all(l) : [NaN])]]) as Record<LoadOp | 'all', Summary>;
      const middleT = offeredSeconds / 2;
      const middle = rss.reduce((best, s) => (Math.abs(s.t - middleT) < Math.abs(best.t - middleT) ? s : best));
      return {
        spec,
        calls: total,
        requests: all(lat).length,
        errors,
        errorsByCode,
        completed: total - errors.length,
        offeredSeconds,
        doneSeconds,
        latency: sum(lat),
        idle: sum(idleLat),
        rss,
        rssAt: { start: rss[0]!, middle, end: rss.at(-1)! },
        sasLeft,
      };
    } finally {
      clearInterval(sampler);
    }
  } finally {
    for (const c of clients) c.close();
    for (const d of daemons) await d.stop();
    await t.destroy();
  }
}

/** Release `callId`, retrying while the daemon is busy or slow; other refusals (no such call) end it. */
async function releaseQuietly(c: SipsecClient, callId: string): Promise<void> {
  for (let i = 0; i < 30; i++) {
    try {
      await c.release(callId);
      return;
    } catch (e) {
      if (!(e instanceof SipsecClientError) || (e.code !== 'busy' && e.code !== 'timeout')) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function countSas(t: Topology, host: string): Promise<number> {
  return (await t.exec(host, ['ip', 'xfrm', 'state'])).stdout.split('\n').filter((l) => l.startsWith('src ')).length;
}

const MiB = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

/** Growth of RSS over the second half of the load, as a share of the RSS at its middle (worse daemon). */
export function secondHalfGrowth(f: LoadFigures): number {
  const { middle, end } = f.rssAt;
  return Math.max((end.a - middle.a) / middle.a, (end.b - middle.b) / middle.b);
}

export function loadReport(size: BenchSize, f: LoadFigures): BenchResult {
  const s = f.spec;
  const achieved = f.completed / f.doneSeconds;
  const growth = secondHalfGrowth(f);
  const p99Ratio = ratio(f.latency.all.p99, f.idle.all.p50);
  const checks: Check[] = [
    {
      what: `failed calls of ${f.calls} (${f.requests} requests answered)`,
      target: '0',
      measured: f.errors.length ? `${f.errors.length} (${Object.entries(f.errorsByCode).map(([c, n]) => `${c} ${n}`).join(', ')})` : '0',
      met: f.errors.length === 0,
    },
    {
      what: 'calls completed per second (until the last finished)',
      target: `>= 95 % of ${s.rate}`,
      measured: achieved.toFixed(1),
      met: achieved >= 0.95 * s.rate,
    },
    {
      what: 'RSS growth over the second half (worse daemon)',
      target: `<= ${FLAT_SHARE * 100} % of the RSS at the middle`,
      measured: `${(growth * 100).toFixed(1)} %`,
      met: growth <= FLAT_SHARE,
    },
    { what: 'SAs left after release + linger', target: '0', measured: String(f.sasLeft.a + f.sasLeft.b), met: f.sasLeft.a + f.sasLeft.b === 0 },
  ];
  const rows = ([...OPS, 'all'] as const).map((op) => {
    const l = f.latency[op];
    return [op, String(l.n), fmtNs(l.p50), fmtNs(l.p90), fmtNs(l.p99), fmtNs(l.max), fmtNs(f.idle[op].p50), fmtRatio(ratio(l.p99, f.idle[op].p50))];
  });
  return {
    name: 'load',
    tables: [
      {
        title: `Request latency: ${s.clients} clients per daemon, ${s.rate} calls/s across ${s.side * s.side} peers for ${s.seconds} s (suite ${SUITE}, hold ${s.holdMs} ms)`,
        headers: ['request', 'n', 'p50', 'p90', 'p99', 'max', 'idle p50', 'p99 / idle p50'],
        rows,
        notes: [
          `One call = offer (a), answer (b), confirm (a), release on a and on b; latency is the UA's, socket round trip included.`,
          `idle p50: the same requests of ${IDLE_CALLS} sequential calls on the idle daemons just before the load (this run's baseline).`,
          `Calls started on schedule over ${f.offeredSeconds.toFixed(1)} s; the last finished at ${f.doneSeconds.toFixed(1)} s.`,
          ...(f.errors.length ? [`first errors: ${f.errors.slice(0, 3).join('; ')}`] : []),
        ],
      },
      {
        title: 'Daemon resident memory (VmRSS)',
        headers: ['daemon', 'start', 'middle', 'end', 'max', 'end - middle'],
        rows: (['a', 'b'] as const).map((h) => [
          h,
          MiB(f.rssAt.start[h]),
          MiB(f.rssAt.middle[h]),
          MiB(f.rssAt.end[h]),
          MiB(Math.max(...f.rss.map((r) => r[h]))),
          MiB(f.rssAt.end[h] - f.rssAt.middle[h]),
        ]),
        notes: [`start: clients connected, before the load; middle: ${f.rssAt.middle.t.toFixed(0)} s; end: all calls released (${f.rssAt.end.t.toFixed(0)} s).`],
      },
    ],
    csv: {
      'load-latency': toCsv(
        ['request', 'n', 'p50_ns', 'p90_ns', 'p99_ns', 'max_ns', 'idle_p50_ns', 'p99_ratio_to_idle_p50', 'errors'],
        ([...OPS, 'all'] as const).map((op) => {
          const l = f.latency[op];
          return [op, l.n, Math.round(l.p50), Math.round(l.p90), Math.round(l.p99), Math.round(l.max), Math.round(f.idle[op].p50), ratio(l.p99, f.idle[op].p50).toFixed(3), op === 'all' ? f.errors.length : ''];
        }),
      ),
      'load-rss': toCsv(['t_s', 'rss_a_bytes', 'rss_b_bytes'], f.rss.map((r) => [r.t.toFixed(1), r.a, r.b])),
    },
    svg: {
      'load-rss': lineChart({
        title: `sipsecd RSS under ${s.rate} calls/s, ${s.clients} clients each (p99 ${fmtNs(f.latency.all.p99)}, ${fmtRatio(p99Ratio)} idle p50)`,
        xLabel: 'seconds since the load started',
        yLabel: 'VmRSS (MiB)',
        series: (['a', 'b'] as const).map((h) => ({ name: `daemon ${h}`, points: f.rss.map((r) => [r.t, r[h] / 1048576] as const) })),
      }),
    },
    checks,
    context: { size, suite: SUITE },
  };
}
