// Load on sipsecd in the lab (issue 8): many UA clients connected to each
// daemon, calls started open-loop at a fixed rate across many peer address
// pairs (offer on a, answer on b, confirm on a, release on both after a hold
// time).  Asserts no errors and a flat RSS; prints the figures as one JSON
// line ("LOAD {...}").  Tiny by default; scripts/load.mjs runs the full
// figure (1,000 clients, 200 calls/s, 100 peers, 60 s) through environment
// variables: SIPSEC_LOAD_SECONDS, SIPSEC_LOAD_CLIENTS (per daemon),
// SIPSEC_LOAD_RATE (calls/s), SIPSEC_LOAD_PEERS (a perfect square up to 100),
// SIPSEC_LOAD_HOLD_MS.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SipsecClient } from '../../src/client/client.js';
import { ALICE, BOB, startPair, type Pair } from './helpers/sipsecd.js';

const num = (name: string, dflt: number) => Number(process.env[name] ?? dflt);
const SECONDS = num('SIPSEC_LOAD_SECONDS', 3);
const CLIENTS = num('SIPSEC_LOAD_CLIENTS', 20);
const RATE = num('SIPSEC_LOAD_RATE', 2);
const SIDE = Math.round(Math.sqrt(num('SIPSEC_LOAD_PEERS', 4)));
const HOLD_MS = num('SIPSEC_LOAD_HOLD_MS', 1000);

const AS = Array.from({ length: SIDE }, (_, i) => `10.1.0.${i + 1}`);
const BS = Array.from({ length: SIDE }, (_, i) => `10.1.0.${i + 101}`);

let p: Pair;

/** VmRSS in KiB of the sipsecd whose config is `<host>.yaml`. */
function rssOf(host: 'a' | 'b'): number {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes('sipsecd') && cmd.includes(`${p.dir}/${host}.yaml`)) {
      return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
    }
  }
  return NaN;
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! : NaN;
};

describe('sipsecd under load', () => {
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    p = await startPair({ prefix: 'ld-', a: AS.map((x) => `${x}/16`), b: BS.map((x) => `${x}/16`), maxConnections: CLIENTS + 16, extra: 'linger: 1' });
  }, 180_000);

  afterAll(async () => p?.destroy());

  it(`${CLIENTS} clients per daemon, ${RATE} calls/s across ${SIDE * SIDE} peers for ${SECONDS} s: no errors, RSS flat`, async () => {
    const ca: SipsecClient[] = [];
    const cb: SipsecClient[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      ca.push(await p.client('a'));
      cb.push(await p.client('b'));
    }
    const lat: number[] = [];
    const errors: string[] = [];
    const timed = async <T>(f: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      const r = await f();
      lat.push(performance.now() - t);
      return r;
    };
    const rss: { t: number; a: number; b: number }[] = [];
    const t0 = Date.now();
    const sampler = setInterval(() => rss.push({ t: (Date.now() - t0) / 1000, a: rssOf('a'), b: rssOf('b') }), 1000);
    rss.push({ t: 0, a: rssOf('a'), b: rssOf('b') });
    const running: Promise<void>[] = [];
    let started = 0;
    const oneCall = async (n: number) => {
      const callId = `load-${n}`;
      const x = ca[n % CLIENTS]!;
      const y = cb[n % CLIENTS]!;
      const peer = n % (SIDE * SIDE);
      const aAddr = AS[peer % SIDE]!;
      const bAddr = BS[Math.floor(peer / SIDE)]!;
      try {
        const offer = await timed(() => x.offer({ callId, localUri: ALICE, peerUri: BOB, localAddress: aAddr }));
        const answer = await timed(() => y.answer({ callId, localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: aAddr, localAddress: bAddr }));
        await timed(() => x.confirm({ callId, mikey: answer.mikey, peerAddress: bAddr }));
        await new Promise((r) => setTimeout(r, HOLD_MS));
        await timed(() => x.release(callId));
        await timed(() => y.release(callId));
      } catch (e) {
        errors.push(`${callId}: ${(e as Error).message}`);
      }
    };
    // Open loop: start calls on schedule whether or not earlier ones finished.
    const total = Math.round(SECONDS * RATE);
    const wall0 = performance.now();
    while (started < total) {
      const due = wall0 + (started * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      running.push(oneCall(started++));
    }
    const offeredSeconds = (performance.now() - wall0) / 1000;
    await Promise.all(running);
    const doneSeconds = (performance.now() - wall0) / 1000;
    clearInterval(sampler);
    rss.push({ t: (Date.now() - t0) / 1000, a: rssOf('a'), b: rssOf('b') });
    for (const c of [...ca, ...cb]) c.close();
    const late = rss.slice(Math.floor(rss.length / 2));
    const figures = {
      clientsPerDaemon: CLIENTS,
      peers: SIDE * SIDE,
      calls: total,
      targetRate: RATE,
      achievedRate: +(total / doneSeconds).toFixed(1),
      offeredSeconds: +offeredSeconds.toFixed(1),
      requests: lat.length,
      errors: errors.length,
      firstErrors: errors.slice(0, 5),
      latencyMs: { p50: +pct(lat, 0.5).toFixed(1), p99: +pct(lat, 0.99).toFixed(1), max: +Math.max(...lat).toFixed(1) },
      rssKiB: {
        a: { start: rss[0]!.a, secondHalfMin: Math.min(...late.map((r) => r.a)), end: rss.at(-1)!.a, max: Math.max(...rss.map((r) => r.a)) },
        b: { start: rss[0]!.b, secondHalfMin: Math.min(...late.map((r) => r.b)), end: rss.at(-1)!.b, max: Math.max(...rss.map((r) => r.b)) },
      },
    };
    process.stdout.write(`LOAD ${JSON.stringify(figures)}\n`);
    expect(errors).toEqual([]);
    expect(lat.length).toBe(total * 5);
    // Every call was released: after the linger nothing is left.
    await new Promise((r) => setTimeout(r, 2500));
    expect(await p.xfrm('a', 'state')).toBe('');
    expect(await p.xfrm('b', 'state')).toBe('');
    // Flat memory: the end is within 64 MiB of the start (V8 grows its heap in steps; a leak per call would not stop).
    for (const h of ['a', 'b'] as const) expect(figures.rssKiB[h].end - figures.rssKiB[h].start).toBeLessThan(64 * 1024);
  }, 900_000);
});
