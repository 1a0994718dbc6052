/**
 * load: sipsecd under load (issue 8).  Two real daemons (a: alice, b: bob) in
 * the lab, each with `clients` UA connections on its socket.  One call =
 * offer on a, answer on b, confirm on a, a hold, release on both.
 *
 * 1. Baseline: sequential calls on the idle daemons (the p50 of each request).
 * 2. Capacity: a closed-loop ramp, 1, 2, 4 ... calls at once back to back;
 *    the capacity is the best rate of completed calls whose requests' p99
 *    stayed within LATENCY_BOUND_MS.
 * 3. The load asked for: calls started open-loop at `rate` per second for
 *    `seconds` across `peers` address pairs, whatever the capacity.  A
 *    request refused `busy` is sent again after its `retryAfterMs`, as a UA
 *    retries an INVITE after 503 + Retry-After; a call still refused when
 *    the retry would start more than GIVE_UP_MS (Timer B, 64·T1) after it was
 *    dialled is given up: shed, not an error, and released on each daemon
 *    that took a request of it (one that only ever answered busy holds
 *    nothing).  Errors are every other failure (timeout, kernel, ...), also
 *    released.
 *
 * The generator shares the lab's one CPU with both daemons, and reads
 * answers late when it gets too little of it: a timeout whose timer fired
 * more than LATE_TIMER_MS late is counted apart (LateTimeout).  (Lowering the
 * daemons' priority instead starved them: SECURITY.md §7, run 10.)
 *
 * Reported: capacity, offered and completed rate, shed, errors by code,
 * p50/p90/p99 of the answered requests per op (the attempt that was served)
 * and of call setup (dial to confirmed, retries included), each daemon's
 * RSS at the start, middle and end of the load, the SAs left after
 * release + linger, and the generator's event-loop delay and the CPU time
 * of the three processes.
 *
 * `--size full` is the figure of issue 8: 1,000 clients per daemon, 200 calls/s
 * across 100 peers for 60 s.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { DEFAULT_TIMEOUT_MS, SipsecClientError, type SipsecClient } from '../client/client.js';
import type { SuiteName } from '../kernel/algorithms.js';
import { createTopology, type Topology } from '../lab/topology.js';
import { toCsv } from './csv.js';
import { ALICE, BOB, cpuSecondsOf, requireLab, rssOf, startDaemon, type Daemon } from './lab-env.js';
import type { BenchResult, BenchSize, Check } from './results.js';
import { fmtNs, fmtRatio, ratio, summarize, type Summary } from './stats.js';
import { lineChart } from './svg.js';

const SUITE: SuiteName = 'aes-gcm-128';
const OPS = ['offer', 'answer', 'confirm', 'release'] as const;
type LoadOp = (typeof OPS)[number];
/** The daemons: a (alice, offers and confirms) and b (bob, answers). */
type Side = 'a' | 'b';
/** Rows of the latency table: each request, all of them, and call setup (dial to confirmed, retries included). */
const ROWS = [...OPS, 'all', 'setup'] as const;
type Row = (typeof ROWS)[number];

export interface LoadSpec {
  /** UA connections on each daemon's socket. */
  clients: number;
  /** Calls started per second (open loop). */
  rate: number;
  /** Peer address pairs: side × side (a's side addresses × b's). */
  side: number;
  seconds: number;
  holdMs: number;
  /** Capacity ramp: calls at once (closed loop, back to back), `seconds` each; it stops when the rate no longer grows. */
  ramp: { steps: readonly number[]; seconds: number };
}

export const LOAD_SIZES: Record<BenchSize, LoadSpec> = {
  tiny: { clients: 20, rate: 2, side: 2, seconds: 3, holdMs: 1000, ramp: { steps: [1, 2], seconds: 2 } },
  small: { clients: 200, rate: 50, side: 5, seconds: 20, holdMs: 1000, ramp: { steps: [1, 2, 4, 8, 16], seconds: 4 } },
  full: { clients: 1000, rate: 200, side: 10, seconds: 60, holdMs: 1000, ramp: { steps: [1, 2, 4, 8, 16, 32], seconds: 6 } },
};

/** Calls on the idle daemons before the load: the latency baseline of this run. */
const IDLE_CALLS = 20;
/** Calls started at most before the scheduler yields, when behind schedule. */
const BATCH = 100;
/** Seconds a released peer's SAs linger in both daemons. */
const LINGER = 1;
/** Flat memory: RSS growth over the second half of the load, as a share of the RSS at its middle. */
const FLAT_SHARE = 0.1;
/** Capacity: the best rate at which the requests' p99 stays within this (the daemon's admission target). */
const LATENCY_BOUND_MS = 1000;
/** A call still refused this long after it was dialled is given up (SIP Timer B, 64·T1). */
const GIVE_UP_MS = 32_000;
/** A client timeout whose timer fired this much later than due: the generator itself was behind (see LateTimeout). */
const LATE_TIMER_MS = 1000;
/** Longest wait for the SAs to go after the linger. */
const SAS_GONE_MS = 15_000;

interface RssSample {
  t: number;
  a: number;
  b: number;
}

export interface RampStep {
  concurrency: number;
  /** Calls completed per second of the step. */
  rate: number;
  requests: Summary;
  busy: number;
  errors: number;
}

export interface LoadFigures {
  spec: LoadSpec;
  ramp: RampStep[];
  /** Best ramp rate with requests' p99 within LATENCY_BOUND_MS (NaN if none). */
  capacity: number;
  calls: number;
  /** Requests answered (the served attempts) in the open-loop run. */
  requests: number;
  /** Calls that completed every request; of them, `retried` after at least one busy refusal. */
  completed: number;
  retried: number;
  /** Calls given up while still refused (busy) GIVE_UP_MS after they were dialled. */
  shed: number;
  /** busy refusals answered in the open-loop run, retries included. */
  busy: number;
  errors: string[];
  /** Failed calls by the client error code of their failed request (timeout, ...). */
  errorsByCode: Record<string, number>;
  offeredSeconds: number;
  doneSeconds: number;
  latency: Record<Row, Summary>;
  idle: Record<Row, Summary>;
  rss: RssSample[];
  rssAt: { start: RssSample; middle: RssSample; end: RssSample };
  sasLeft: { a: number; b: number };
  /**
   * The load generator's own event-loop delay during the open-loop run, ns: it shares the
   * lab's CPU with both daemons, and a client times out an answer it was too busy to read.
   */
  generatorDelay: { p99: number; max: number };
  /** CPU seconds each process used from the start of the open-loop run until its last call was over, and that time. */
  cpu: { generator: number; a: number; b: number; wall: number };
}

/** A call given up while sipsecd still refused it (busy): load shed, not an error. */
class Shed extends Error {
  override readonly name = 'Shed';
}

/**
 * A request timed out on a timer that fired more than LATE_TIMER_MS late: the generator's
 * event loop was that far behind, and the answer may have come in time and waited unread in
 * the generator's own socket.  Still a failed call, counted apart from the timeouts the
 * generator saw on time (the daemon did not answer within the client's timeout).
 */
class LateTimeout extends Error {
  override readonly name = 'LateTimeout';
  readonly code = 'timeout-late-timer';
}

/** What the calls of one phase record. */
interface Recorder {
  lat: Record<LoadOp | 'setup', number[]>;
  busy: number;
}
const recorder = (): Recorder => ({ lat: { offer: [], answer: [], confirm: [], release: [], setup: [] }, busy: 0 });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    /**
     * One call on clients x (a) and y (b).  A busy refusal is retried after its hint; while setting up,
     * only until `giveUpAt` (then Shed), a release always (what the call holds must go).  `held` gets
     * each daemon that may hold part of the call: one that took a request of it (answered or not),
     * not one that only ever refused it busy.
     */
    const oneCall = async (callId: string, n: number, holdMs: number, giveUpAt: number, rec: Recorder, held: Set<Side>) => {
      const x = ca[n % spec.clients]!;
      const y = cb[n % spec.clients]!;
      const { aAddr, bAddr } = peerOf(n);
      const dialled = performance.now();
      const request = async <T>(op: LoadOp, side: Side, f: () => Promise<T>): Promise<T> => {
        for (;;) {
          const t0 = performance.now();
          try {
            const r = await f();
            held.add(side);
            rec.lat[op].push((performance.now() - t0) * 1e6);
            return r;
          } catch (e) {
            if (!(e instanceof SipsecClientError) || e.code !== 'busy') held.add(side);
            if (e instanceof SipsecClientError && e.code === 'timeout') {
              const late = performance.now() - t0 - DEFAULT_TIMEOUT_MS;
              if (late > LATE_TIMER_MS) throw new LateTimeout(`${e.message} (the timer fired ${(late / 1000).toFixed(1)} s late)`);
            }
            if (!(e instanceof SipsecClientError) || e.code !== 'busy') throw e;
            rec.busy++;
            const wait = e.retryAfterMs ?? 1000;
            if (op !== 'release' && performance.now() + wait > giveUpAt) throw new Shed(`${op} refused busy ${((performance.now() - dialled) / 1000).toFixed(1)} s after dialling`);
            await sleep(wait);
          }
        }
      };
      const offer = await request('offer', 'a', () => x.offer({ callId, localUri: ALICE, peerUri: BOB, localAddress: aAddr }));
      const answer = await request('answer', 'b', () => y.answer({ callId, localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: aAddr, localAddress: bAddr }));
      await request('confirm', 'a', () => x.confirm({ callId, mikey: answer.mikey, peerAddress: bAddr }));
      rec.lat.setup.push((performance.now() - dialled) * 1e6);
      if (holdMs) await sleep(holdMs);
      await request('release', 'a', () => x.release(callId));
      await request('release', 'b', () => y.release(callId));
    };
    /** As a UA does when its call fails: release what either daemon may hold of it (none after a busy-only daemon). */
    const cleanUp = async (callId: string, n: number, held: Set<Side>) => {
      if (held.has('a')) await releaseQuietly(ca[n % spec.clients]!, callId);
      if (held.has('b')) await releaseQuietly(cb[n % spec.clients]!, callId);
    };
    const sum = (r: Recorder) => {
      const all = OPS.flatMap((op) => r.lat[op]);
      const one = (l: number[]) => summarize(l.length ? l : [NaN]);
      return { ...Object.fromEntries(OPS.map((op) => [op, one(r.lat[op])])), all: one(all), setup: one(r.lat.setup) } as Record<Row, Summary>;
    };

    onProgress(`${IDLE_CALLS} calls on the idle daemons (baseline)`);
    const idle = recorder();
    for (let i = 0; i < IDLE_CALLS; i++) await oneCall(`idle-${i}`, i, 0, Infinity, idle, new Set());

    const ramp: RampStep[] = [];
    let next = 0;
    for (const k of spec.ramp.steps.filter((k) => k <= spec.clients)) {
      const rec = recorder();
      let completed = 0;
      let errors = 0;
      const t0 = performance.now();
      const end = t0 + spec.ramp.seconds * 1000;
      await Promise.all(
        Array.from({ length: k }, async () => {
          while (performance.now() < end) {
            const n = next++;
            const held = new Set<Side>();
            try {
              await oneCall(`ramp-${n}`, n, 0, performance.now() + GIVE_UP_MS, rec, held);
              completed++;
            } catch {
              errors++;
              await cleanUp(`ramp-${n}`, n, held);
            }
          }
        }),
      );
      const step = { concurrency: k, rate: completed / ((performance.now() - t0) / 1000), requests: sum(rec).all, busy: rec.busy, errors };
      ramp.push(step);
      onProgress(`ramp: ${k} at once, ${step.rate.toFixed(1)} calls/s, request p99 ${fmtNs(step.requests.p99)}, ${step.busy} busy, ${errors} failed`);
      const best = Math.max(...ramp.slice(0, -1).map((s) => s.rate));
      if (step.requests.p99 > LATENCY_BOUND_MS * 1e6 || step.rate < 1.1 * best) break;
    }
    const within = ramp.filter((s) => s.requests.p99 <= LATENCY_BOUND_MS * 1e6);
    const capacity = within.length ? Math.max(...within.map((s) => s.rate)) : NaN;
    await sleep(LINGER * 1000 + 500);

    const rec = recorder();
    const errors: string[] = [];
    const errorsByCode: Record<string, number> = {};
    let completed = 0;
    let retried = 0;
    let shed = 0;
    const rss: RssSample[] = [];
    const wall0 = performance.now();
    const sample = async () => rss.push({ t: (performance.now() - wall0) / 1000, a: await rssOf(da.pid), b: await rssOf(db.pid) });
    await sample();
    const sampler = setInterval(() => void sample().catch(() => undefined), 1000);
    const cpuAt = async () => ({ generator: process.cpuUsage(), a: await cpuSecondsOf(da.pid), b: await cpuSecondsOf(db.pid) });
    const cpu0 = await cpuAt();
    const loopDelay = monitorEventLoopDelay({ resolution: 20 });
    loopDelay.enable();
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
          await sleep(wall0 + (started * 1000) / spec.rate - performance.now());
          continue;
        }
        for (const end = Math.min(due, started + BATCH); started < end; ) {
          const n = started++;
          const callId = `load-${n}`;
          const own = recorder();
          const held = new Set<Side>();
          running.push(
            oneCall(callId, n, spec.holdMs, performance.now() + GIVE_UP_MS, own, held)
              .then(
                () => {
                  completed++;
                  if (own.busy > 0) retried++;
                },
                async (e: unknown) => {
                  if (e instanceof Shed) shed++;
                  else {
                    const code = e instanceof SipsecClientError || e instanceof LateTimeout ? e.code : 'other';
                    errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
                    errors.push(`${callId}: ${(e as Error).message}`);
                  }
                  await cleanUp(callId, n, held);
                },
              )
              .finally(() => {
                for (const op of [...OPS, 'setup'] as const) rec.lat[op].push(...own.lat[op]);
                rec.busy += own.busy;
                done++;
              }),
          );
        }
        if (performance.now() - lastProgress > 5000) {
          lastProgress = performance.now();
          onProgress(`${((lastProgress - wall0) / 1000).toFixed(0)} s: ${started}/${total} calls started, ${done} done (${completed} completed, ${shed} shed, ${errors.length} errors), ${rec.busy} busy`);
        }
        await new Promise((r) => setImmediate(r));
      }
      const offeredSeconds = (performance.now() - wall0) / 1000;
      await Promise.all(running);
      const doneSeconds = (performance.now() - wall0) / 1000;
      const cpu1 = await cpuAt();
      const used = process.cpuUsage(cpu0.generator);
      const cpu = { generator: (used.user + used.system) / 1e6, a: cpu1.a - cpu0.a, b: cpu1.b - cpu0.b, wall: doneSeconds };
      loopDelay.disable();
      clearInterval(sampler);
      await sample();
      if (errors.length) {
        for (const d of daemons) onProgress(`daemon log tail:\n${d.logTail().split('\n').slice(-20).join('\n')}`);
      }
      onProgress('waiting out the linger');
      await sleep(LINGER * 1000 + 1500);
      let sasLeft = { a: await countSas(t, 'a'), b: await countSas(t, 'b') };
      for (const until = performance.now() + SAS_GONE_MS; sasLeft.a + sasLeft.b > 0 && performance.now() < until; ) {
        await sleep(500);
        sasLeft = { a: await countSas(t, 'a'), b: await countSas(t, 'b') };
      }
      const middleT = offeredSeconds / 2;
      const middle = rss.reduce((best, s) => (Math.abs(s.t - middleT) < Math.abs(best.t - middleT) ? s : best));
      return {
        spec,
        ramp,
        capacity,
        calls: total,
        requests: OPS.reduce((n, op) => n + rec.lat[op].length, 0),
        completed,
        retried,
        shed,
        busy: rec.busy,
        errors,
        errorsByCode,
        offeredSeconds,
        doneSeconds,
        latency: sum(rec),
        idle: sum(idle),
        rss,
        rssAt: { start: rss[0]!, middle, end: rss.at(-1)! },
        sasLeft,
        generatorDelay: { p99: loopDelay.percentile(99), max: loopDelay.max },
        cpu,
      };
    } finally {
      clearInterval(sampler);
      loopDelay.disable();
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
      await sleep(e.retryAfterMs ?? 1000);
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
  const offered = f.calls / f.offeredSeconds;
  const growth = secondHalfGrowth(f);
  const p99Ratio = ratio(f.latency.all.p99, f.idle.all.p50);
  const checks: Check[] = [
    {
      what: `failed calls of ${f.calls} (shed ${f.shed} not counted)`,
      target: '0',
      measured: f.errors.length ? `${f.errors.length} (${Object.entries(f.errorsByCode).map(([c, n]) => `${c} ${n}`).join(', ')})` : '0',
      met: f.errors.length === 0,
    },
    {
      what: 'calls completed per second (until the last finished)',
      target: `>= 95 % of ${s.rate}`,
      measured: `${achieved.toFixed(1)} (capacity ${f.capacity.toFixed(1)})`,
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
  const rows = ROWS.map((op) => {
    const l = f.latency[op];
    return [op, String(l.n), fmtNs(l.p50), fmtNs(l.p90), fmtNs(l.p99), fmtNs(l.max), fmtNs(f.idle[op].p50), fmtRatio(ratio(l.p99, f.idle[op].p50))];
  });
  const pct = (n: number) => `${((100 * n) / f.calls).toFixed(1)} %`;
  return {
    name: 'load',
    tables: [
      {
        title: `Capacity: calls at once, back to back (closed loop, no hold), ${s.ramp.seconds} s each`,
        headers: ['at once', 'calls/s', 'request p50', 'request p99', 'busy', 'failed'],
        rows: f.ramp.map((r) => [String(r.concurrency), r.rate.toFixed(1), fmtNs(r.requests.p50), fmtNs(r.requests.p99), String(r.busy), String(r.errors)]),
        notes: [
          `capacity: ${Number.isFinite(f.capacity) ? `${f.capacity.toFixed(1)} calls/s` : 'none'}, the best rate whose request p99 stayed within ${LATENCY_BOUND_MS} ms (the ramp stops when the p99 passes it or the rate grows less than 10 %).`,
        ],
      },
      {
        title: `Calls: ${s.rate} calls/s offered (open loop) across ${s.side * s.side} peers for ${s.seconds} s, ${s.clients} clients per daemon`,
        headers: ['calls', 'n', 'share', 'per second'],
        rows: [
          ['offered', String(f.calls), '100 %', `${offered.toFixed(1)} (over ${f.offeredSeconds.toFixed(1)} s)`],
          ['completed', String(f.completed), pct(f.completed), `${achieved.toFixed(1)} (over ${f.doneSeconds.toFixed(1)} s)`],
          ['  of them after busy + retry', String(f.retried), pct(f.retried), '-'],
          ['shed (still busy after 32 s)', String(f.shed), pct(f.shed), '-'],
          ['failed (errors)', String(f.errors.length), pct(f.errors.length), '-'],
        ],
        notes: [
          `busy refusals answered: ${f.busy}; each was retried after the daemon's retryAfterMs (a UA: 503 + Retry-After), until ${GIVE_UP_MS / 1000} s after dialling (Timer B).`,
          `The load generator's own event-loop delay: p99 ${fmtNs(f.generatorDelay.p99)}, max ${fmtNs(f.generatorDelay.max)} (it shares the lab's one CPU with both daemons); a timeout whose timer fired more than ${LATE_TIMER_MS / 1000} s late is counted as timeout-late-timer: the answer may have come in time and waited unread in the generator.`,
          `CPU used until the last call was over (${f.cpu.wall.toFixed(1)} s, one CPU): generator ${f.cpu.generator.toFixed(1)} s, daemon a ${f.cpu.a.toFixed(1)} s, daemon b ${f.cpu.b.toFixed(1)} s.`,
          ...(f.errors.length ? [`first errors: ${f.errors.slice(0, 3).join('; ')}`] : []),
        ],
      },
      {
        title: `Request latency of the completed requests (suite ${SUITE}, hold ${s.holdMs} ms)`,
        headers: ['request', 'n', 'p50', 'p90', 'p99', 'max', 'idle p50', 'p99 / idle p50'],
        rows,
        notes: [
          `One call = offer (a), answer (b), confirm (a), release on a and on b; latency is the UA's, socket round trip included, of the attempt that was served; setup: dial to confirmed, retries after busy included.`,
          `idle p50: the same requests of ${IDLE_CALLS} sequential calls on the idle daemons just before the load (this run's baseline).`,
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
        notes: [`start: clients connected, after the ramp, before the load; middle: ${f.rssAt.middle.t.toFixed(0)} s; end: all calls released (${f.rssAt.end.t.toFixed(0)} s).`],
      },
    ],
    csv: {
      'load-latency': toCsv(
        ['request', 'n', 'p50_ns', 'p90_ns', 'p99_ns', 'max_ns', 'idle_p50_ns', 'p99_ratio_to_idle_p50'],
        ROWS.map((op) => {
          const l = f.latency[op];
          return [op, l.n, Math.round(l.p50), Math.round(l.p90), Math.round(l.p99), Math.round(l.max), Math.round(f.idle[op].p50), ratio(l.p99, f.idle[op].p50).toFixed(3)];
        }),
      ),
      'load-calls': toCsv(
        ['capacity_calls_s', 'offered', 'offered_s', 'completed', 'retried', 'shed', 'errors', 'busy_refusals', 'done_s', 'sas_left'],
        [[f.capacity.toFixed(2), f.calls, f.offeredSeconds.toFixed(1), f.completed, f.retried, f.shed, f.errors.length, f.busy, f.doneSeconds.toFixed(1), f.sasLeft.a + f.sasLeft.b]],
      ),
      'load-ramp': toCsv(
        ['concurrency', 'calls_s', 'request_p50_ns', 'request_p99_ns', 'busy', 'failed'],
        f.ramp.map((r) => [r.concurrency, r.rate.toFixed(2), Math.round(r.requests.p50), Math.round(r.requests.p99), r.busy, r.errors]),
      ),
      'load-rss': toCsv(['t_s', 'rss_a_bytes', 'rss_b_bytes'], f.rss.map((r) => [r.t.toFixed(1), r.a, r.b])),
    },
    svg: {
      'load-rss': lineChart({
        title: `sipsecd RSS under ${s.rate} calls/s offered, ${s.clients} clients each (p99 ${fmtNs(f.latency.all.p99)}, ${fmtRatio(p99Ratio)} idle p50)`,
        xLabel: 'seconds since the load started',
        yLabel: 'VmRSS (MiB)',
        series: (['a', 'b'] as const).map((h) => ({ name: `daemon ${h}`, points: f.rss.map((r) => [r.t, r[h] / 1048576] as const) })),
      }),
    },
    checks,
    context: { size, suite: SUITE },
  };
}
