/**
 * mikey: complete MIKEY exchanges per second on one core (this process, one
 * thread): createOffer (initiator), respond (responder: decode, checks, replay
 * cache, derive), verifyResponse (initiator: verify, derive), keys wiped.
 * Pure code, no kernel: runs on the host.  Each mode runs for a fixed time
 * after a warm-up (a daemon's steady state): at least a quarter of that time
 * and, unless that takes over twice that time, WARM_UP_EXCHANGES exchanges,
 * so that V8 has optimised the hot code (three warm-up exchanges, as before,
 * left a 1 s PSK run mostly in the unoptimised tiers, the more so on a loaded
 * machine); the rate is exchanges / elapsed wall time.  The CPU
 * time this process used over the same loop is reported beside it: on a
 * shared machine (other labs running) the wall rate falls with the load,
 * exchanges per CPU-second much less; the load average is in the context.
 */
import { cpus, loadavg } from 'node:os';
import { suiteByName } from '../kernel/algorithms.js';
import type { OakleyGroup } from '../mikey/dh.js';
import { createOffer, verifyResponse } from '../mikey/initiator.js';
import type { Credentials } from '../mikey/modes/types.js';
import { policyForSuite } from '../mikey/negotiate.js';
import { ReplayCache } from '../mikey/replay.js';
import { respond } from '../mikey/responder.js';
import type { MikeyMode } from '../mikey/result.js';
import { toCsv } from './csv.js';
import { BenchError } from './install.js';
import { ALICE, BOB, PSK } from './lab-env.js';
import { benchPki } from './pki.js';
import type { BenchResult, BenchSize, Check } from './results.js';
import { barChart } from './svg.js';

const SECONDS: Record<BenchSize, number> = { tiny: 0.05, small: 1, full: 3 };
/** Warm-up before each measured run: at least this fraction of SECONDS... */
const WARM_UP = 0.25;
/** ...and this many exchanges, unless that takes more than 2 × SECONDS (the slow public-key modes). */
const WARM_UP_EXCHANGES = 500;
const POLICY = policyForSuite(suiteByName('aes-gcm-128'));

interface Case {
  label: string;
  mode: MikeyMode;
  dhGroup?: OakleyGroup;
}

const CASES: Case[] = [
  { label: 'PSK', mode: 'psk' },
  { label: 'DHHMAC group 2', mode: 'dhhmac', dhGroup: 2 },
  { label: 'DHHMAC group 14', mode: 'dhhmac', dhGroup: 14 },
  { label: 'DH group 2 (RSA sign)', mode: 'dh', dhGroup: 2 },
  { label: 'DH group 14 (RSA sign)', mode: 'dh', dhGroup: 14 },
  { label: 'PKE (RSA-2048)', mode: 'pke' },
];

/** One complete exchange; throws if either side fails. */
export async function exchange(c: Case, alice: Credentials, bob: Credentials, replay: ReplayCache, spi: number): Promise<void> {
  const { message, state } = createOffer({
    mode: c.mode, localId: ALICE, peerId: BOB, localAddr: '192.0.2.1', inboundSpi: spi, policy: POLICY, credentials: alice,
    ...(c.dhGroup ? { dhGroup: c.dhGroup } : {}),
  });
  const r = await respond(message, {
    localId: BOB, peerId: ALICE, localAddr: '192.0.2.2', allocSpi: () => spi + 1, credentials: bob, replayCache: replay,
    modes: [c.mode], ...(c.dhGroup ? { dhGroups: [c.dhGroup] } : {}),
  });
  if (!r.ok) throw new BenchError(`${c.label}: responder refused: ${r.error.message}`);
  const mine = verifyResponse(state, r.response, { credentials: alice });
  if (mine.sas.length !== 2) throw new BenchError(`${c.label}: ${mine.sas.length} SAs derived`);
  mine.wipe();
  r.result.wipe();
}

export async function benchMikey(size: BenchSize, onProgress: (what: string) => void = () => undefined): Promise<BenchResult> {
  onProgress('making certificates');
  const pki = benchPki(ALICE, BOB, PSK);
  const secs = SECONDS[size];
  const rows: { label: string; count: number; seconds: number; rate: number; perExchangeUs: number; cpuUs: number }[] = [];
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  for (const c of CASES) {
    onProgress(`${c.label}: ${secs} s`);
    const replay = new ReplayCache({ maxEntries: 10_000_000 });
    let spi = 0x1000;
    const w0 = process.hrtime.bigint();
    const minEnd = w0 + BigInt(Math.round(secs * WARM_UP * 1e9));
    const maxEnd = w0 + BigInt(Math.round(secs * 2 * 1e9));
    for (let i = 0, t = w0; i < 3 || t < minEnd || (i < WARM_UP_EXCHANGES && t < maxEnd); i++, t = process.hrtime.bigint()) {
      await exchange(c, pki.alice, pki.bob, replay, (spi += 2));
    }
    let count = 0;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const end = t0 + BigInt(Math.round(secs * 1e9));
    let now = t0;
    while (now < end) {
      await exchange(c, pki.alice, pki.bob, replay, (spi = spi >= 0xfffffff0 ? 0x1000 : spi + 2));
      count++;
      now = process.hrtime.bigint();
    }
    const seconds = Number(now - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    rows.push({ label: c.label, count, seconds, rate: count / seconds, perExchangeUs: (seconds / count) * 1e6, cpuUs: (cpu.user + cpu.system) / count });
  }
  const psk = rows[0]!;
  const pskPerCpuSecond = 1e6 / psk.cpuUs;
  const checks: Check[] = [
    { what: 'PSK exchanges per second, one core', target: '>= 10,000/s', measured: `${Math.round(psk.rate)}/s`, met: psk.rate >= 10_000 },
    { what: 'PSK exchanges per CPU-second', target: '>= 10,000/s', measured: `${Math.round(pskPerCpuSecond)}/s`, met: pskPerCpuSecond >= 10_000 },
  ];
  return {
    name: 'mikey',
    tables: [
      {
        title: 'Complete MIKEY exchanges on one core (offer, answer, verify, derive both sides)',
        headers: ['mode', 'exchanges', 'seconds', 'exchanges/s', 'µs/exchange', 'CPU µs/exchange'],
        rows: rows.map((r) => [r.label, String(r.count), r.seconds.toFixed(2), r.rate.toFixed(0), r.perExchangeUs.toFixed(0), r.cpuUs.toFixed(0)]),
        notes: [
          'Both sides run in this one thread: an exchange/s figure is the work of initiator + responder together.',
          'CPU µs/exchange: user + system CPU time of this process over the loop (GC included), per exchange.',
        ],
      },
    ],
    csv: {
      mikey: toCsv(
        ['mode', 'exchanges', 'seconds', 'exchanges_per_s', 'us_per_exchange', 'cpu_us_per_exchange'],
        rows.map((r) => [r.label, r.count, r.seconds.toFixed(3), r.rate.toFixed(1), r.perExchangeUs.toFixed(1), r.cpuUs.toFixed(1)]),
      ),
    },
    svg: {
      mikey: barChart({
        title: 'MIKEY exchanges per second, one core',
        yLabel: 'exchanges / s',
        categories: rows.map((r) => r.label),
        series: [{ name: 'exchanges/s', values: rows.map((r) => r.rate) }],
        reference: { value: 10_000, label: 'goal for PSK: 10k/s' },
      }),
    },
    checks,
    context: { size, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, 'load avg at start': load },
  };
}
