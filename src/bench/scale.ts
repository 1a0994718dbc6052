/**
 * scale: N = 10, 100, 1000 (10000 with --size full) peers, each one SA pair
 * and two policies installed through PeerRegistry over the XFRM backend (what
 * sipsecd does per peer), in namespace b of the lab.  Per N: install cost per
 * peer and per SA, lookup (getSa of a random peer's outbound SA) and release
 * (registry.remove: both policies and both SAs) cost, and the resident memory
 * this process (backend + registry) gained.  The C baseline's NEWSA p50 of the
 * same boot is the yardstick.  Peers have distinct addresses in 10.0.0.0/16
 * (SAs do not need reachable peers).
 */
import { PeerRegistry, peerKey, type PairPlan } from '../agent/registry.js';
import type { SuiteName } from '../kernel/algorithms.js';
import { openXfrmBackend, type XfrmBackend } from '../kernel/xfrm/backend.js';
import { toCsv } from './csv.js';
import { DST, runNlNewsa, saSpec, wipe } from './install.js';
import { ALICE, BOB, peerAddr, requireLab, twoHosts } from './lab-env.js';
import type { BenchResult, BenchSize, Check } from './results.js';
import { fmtNs, fmtRatio, ratio, summarize, timeNs, type Summary } from './stats.js';
import { lineChart } from './svg.js';

const SUITE: SuiteName = 'aes-gcm-128';
const STEPS: Record<BenchSize, number[]> = { tiny: [3, 10], small: [10, 100, 1000], full: [10, 100, 1000, 10000] };

interface Step {
  peers: number;
  install: Summary;
  lookup: Summary;
  release: Summary;
  rssDelta: number;
  heapDelta: number;
}

function settle(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export async function benchScale(size: BenchSize, onProgress: (what: string) => void = () => undefined): Promise<BenchResult> {
  requireLab();
  const t = await twoHosts('bsc-');
  const kb = openXfrmBackend({ netns: t.nsPath('b') });
  const steps: Step[] = [];
  let cP50 = NaN;
  try {
    onProgress('C baseline');
    cP50 = summarize(runNlNewsa(t.ns('b'), 50, SUITE)).p50;
    // Warm-up, not recorded: the suite's first SA in this boot loads and self-tests
    // its crypto templates, and the first calls run cold JavaScript.
    await runSteps(kb, [10], () => undefined);
    steps.push(...(await runSteps(kb, STEPS[size], onProgress)));
  } finally {
    await kb.flushOwned().catch(() => undefined);
    await kb.close();
    await t.destroy();
  }
  return report(size, steps, cP50);
}

async function runSteps(kb: XfrmBackend, counts: readonly number[], onProgress: (what: string) => void): Promise<Step[]> {
  const steps: Step[] = [];
  {
    for (const n of counts) {
      const reg = new PeerRegistry(kb, { lingerMs: 3_600_000 });
      settle();
      const rss0 = process.memoryUsage().rss;
      const heap0 = process.memoryUsage().heapUsed;
      const install: number[] = [];
      for (let i = 0; i < n; i++) {
        if (i % 500 === 0) onProgress(`${n} peers: installing ${i}/${n}`);
        const peer = peerAddr(i);
        const plan: PairPlan = {
          local: DST,
          peer,
          out: saSpec(SUITE, 0x1000000 + 2 * i, DST, peer),
          in: saSpec(SUITE, 0x1000001 + 2 * i, peer, DST),
          inViaUpdate: false,
        };
        install.push(await timeNs(() => reg.install({ callId: `c${i}`, owner: 0, localUri: BOB, peerUri: ALICE }, plan)));
        wipe(plan.out.keys);
        wipe(plan.in.keys);
      }
      settle();
      const rssDelta = process.memoryUsage().rss - rss0;
      const heapDelta = process.memoryUsage().heapUsed - heap0;
      onProgress(`${n} peers: lookups`);
      const lookup: number[] = [];
      for (let j = 0; j < Math.min(n, 200); j++) {
        const i = Math.floor(Math.random() * n);
        lookup.push(await timeNs(() => kb.getSa({ dst: peerAddr(i), spi: 0x1000000 + 2 * i, proto: 'esp' })));
      }
      onProgress(`${n} peers: releasing`);
      const release: number[] = [];
      for (let i = 0; i < n; i++) {
        reg.release(`c${i}`);
        release.push(await timeNs(() => reg.remove(peerKey(DST, peerAddr(i)), 'flushed')));
      }
      const left = await kb.flushOwned();
      if (left.sas || left.policies) throw new Error(`release left ${left.sas} SAs and ${left.policies} policies at ${n} peers`);
      steps.push({ peers: n, install: summarize(install), lookup: summarize(lookup), release: summarize(release), rssDelta, heapDelta });
    }
  }
  return steps;
}

function report(size: BenchSize, steps: Step[], cP50: number): BenchResult {
  const at = (n: number) => steps.find((s) => s.peers === n);
  const big = steps[steps.length - 1]!;
  const ref = at(100) ?? steps[0]!;
  const growth = ratio(big.install.p50, ref.install.p50);
  const checks: Check[] = [
    {
      what: `per-SA install cost at ${big.peers} peers vs at ${ref.peers}`,
      target: '<= 1.5x (goal stated for 10,000 vs 100)',
      measured: fmtRatio(growth),
      met: growth <= 1.5,
    },
  ];
  return {
    name: 'scale',
    tables: [
      {
        title: `Cost vs number of peers (one SA pair + 2 policies each, suite ${SUITE}); C NEWSA p50 of this boot ${fmtNs(cP50)}`,
        headers: ['peers', 'install/peer p50', 'p99', 'per SA p50', 'install / (4 × C)', 'lookup p50', 'lookup / C', 'release/peer p50', 'release / (4 × C)', 'RSS +', 'RSS/peer', 'heap/peer'],
        rows: steps.map((s) => [
          String(s.peers),
          fmtNs(s.install.p50),
          fmtNs(s.install.p99),
          fmtNs(s.install.p50 / 2),
          fmtRatio(ratio(s.install.p50, 4 * cP50)),
          fmtNs(s.lookup.p50),
          fmtRatio(ratio(s.lookup.p50, cP50)),
          fmtNs(s.release.p50),
          fmtRatio(ratio(s.release.p50, 4 * cP50)),
          `${(s.rssDelta / 1048576).toFixed(1)} MiB`,
          `${Math.round(s.rssDelta / s.peers / 1024)} KiB`,
          `${Math.round(s.heapDelta / s.peers)} B`,
        ]),
        notes: [
          'install/peer = PeerRegistry.install: NEWSA in, NEWSA out, NEWPOLICY out, NEWPOLICY in (4 kernel requests); per SA = half of it.',
          'lookup = XfrmBackend.getSa (GETSA) of a random peer; release = registry.remove (2 DELPOLICY + 2 DELSA).',
          'RSS + = resident memory this process gained while holding N peers (backend + registry; GC before both readings when --expose-gc).',
        ],
      },
    ],
    csv: {
      scale: toCsv(
        ['peers', 'install_p50_ns', 'install_p90_ns', 'install_p99_ns', 'per_sa_p50_ns', 'install_ratio_to_4x_c', 'lookup_p50_ns', 'release_p50_ns', 'rss_delta_bytes', 'heap_delta_bytes', 'c_newsa_p50_ns'],
        steps.map((s) => [s.peers, s.install.p50, s.install.p90, s.install.p99, s.install.p50 / 2, ratio(s.install.p50, 4 * cP50).toFixed(3), s.lookup.p50, s.release.p50, s.rssDelta, s.heapDelta, cP50]),
      ),
    },
    svg: {
      scale: lineChart({
        title: 'Cost per kernel request vs number of peers (ratio to C NEWSA p50)',
        xLabel: 'peers',
        yLabel: 'p50 per request / C NEWSA p50',
        logX: true,
        series: [
          { name: 'install (per request)', points: steps.map((s) => [s.peers, ratio(s.install.p50 / 4, cP50)] as const) },
          { name: 'lookup (GETSA)', points: steps.map((s) => [s.peers, ratio(s.lookup.p50, cP50)] as const) },
          { name: 'release (per request)', points: steps.map((s) => [s.peers, ratio(s.release.p50 / 4, cP50)] as const) },
        ],
      }),
    },
    checks,
    context: { size, suite: SUITE },
  };
}
