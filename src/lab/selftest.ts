/**
 * `npm run lab -- selftest`: runs inside the lab.  For every algorithm suite
 * of algorithms.ts, in two namespaces joined by veth:
 *
 *  1. cold install: the first SA of the suite in this boot, timed (the kernel
 *     loads the cipher modules and instantiates and self-tests the crypto
 *     templates on first use), then one warm SA for comparison;
 *  2. traffic: an SA pair and in/out policies on both hosts through our XFRM
 *     backend, ping through ESP, the SA packet counters must move and
 *     `ip xfrm state` must show the suite's algorithms;
 *  3. install latency, side by side: our backend (NEWSA via koffi), the C
 *     baseline native/nl_newsa.c, and `ip xfrm state add` (process start
 *     included), as ratios to the C baseline's p50.
 *
 * Prints a table; exits non-zero on any failure.
 */
import { SUITES, type AlgorithmSuite } from '../kernel/algorithms.js';
import { ownedReqid, type SaSpec } from '../kernel/types.js';
import { openXfrmBackend, type XfrmBackend } from '../kernel/xfrm/backend.js';
import { DST, SRC, ensureNlNewsa, measureInstalls, saSpec, wipe } from '../bench/install.js';
import { fmtNs, fmtRatio, ratio, summarize, timeNs } from '../bench/stats.js';
import { formatTable, type Table } from '../bench/table.js';
import { createTopology, type Topology } from './topology.js';

const COUNTS = { ours: Number(process.env.SELFTEST_N ?? 50), c: Number(process.env.SELFTEST_N ?? 50), ip: Number(process.env.SELFTEST_IP_N ?? 20) };
const REQID = ownedReqid(0x5e1f);

interface Row {
  suite: string;
  coldNs: number;
  warmNs: number;
  traffic: string;
  ours?: number;
  c?: number;
  ip?: number;
  error?: string;
}

async function trafficCheck(t: Topology, ka: XfrmBackend, kb: XfrmBackend, s: AlgorithmSuite, spiBase: number): Promise<string> {
  const ab = saSpec(s.name, spiBase, SRC, DST, REQID);
  const ba = saSpec(s.name, spiBase + 1, DST, SRC, REQID);
  const copy = (x: SaSpec): SaSpec => ({ ...x, keys: { encKey: Uint8Array.from(x.keys.encKey), ...(x.keys.authKey ? { authKey: Uint8Array.from(x.keys.authKey) } : {}) } });
  try {
    await ka.installPair(ab, ba);
    await kb.installPair(copy(ba), copy(ab));
    for (const [k, self, peer, outSpi] of [[ka, SRC, DST, ab.spi], [kb, DST, SRC, ba.spi]] as const) {
      await k.addPolicy({ selector: { src: self, dst: peer }, dir: 'out', action: 'allow', reqid: REQID, template: { proto: 'esp', mode: 'transport', spi: outSpi } });
      await k.addPolicy({ selector: { src: peer, dst: self }, dir: 'in', action: 'allow', reqid: REQID, template: { proto: 'esp', mode: 'transport' } });
    }
    const ping = await t.exec('a', ['ping', '-c', '3', '-i', '0.2', '-W', '2', DST]);
    if (ping.code !== 0) throw new Error(`ping through ESP failed: ${(ping.stdout + ping.stderr).trim().split('\n').slice(-2).join(' ')}`);
    const out = (await ka.getSa({ dst: DST, spi: ab.spi, proto: 'esp' })).counters.packets;
    const inb = (await kb.getSa({ dst: DST, spi: ab.spi, proto: 'esp' })).counters.packets;
    const back = (await ka.getSa({ dst: SRC, spi: ba.spi, proto: 'esp' })).counters.packets;
    if (out < 3n || inb < 3n || back < 3n) throw new Error(`SA counters did not move (out ${out}, peer in ${inb}, replies ${back})`);
    const shown = (await t.exec('a', ['ip', 'xfrm', 'state'])).stdout;
    for (const name of [s.aead?.xfrmName, s.crypt?.xfrmName, s.auth?.xfrmName]) {
      if (name && !shown.includes(name)) throw new Error(`ip xfrm state does not show ${name}`);
    }
    return `ok (${out} pkts)`;
  } finally {
    for (const x of [ab, ba]) wipe(x.keys);
    await ka.flushOwned();
    await kb.flushOwned();
  }
}

async function main(): Promise<number> {
  if (process.env.SIPSEC_LAB_INSIDE !== '1') {
    process.stderr.write('selftest runs inside the lab: npm run lab -- selftest\n');
    return 2;
  }
  ensureNlNewsa();
  const t = await createTopology(
    { hosts: [{ name: 'a', addrs: [`${SRC}/24`] }, { name: 'b', addrs: [`${DST}/24`] }], links: [{ type: 'veth', a: 'a', b: 'b' }] },
    'st-',
  );
  const ka = openXfrmBackend({ netns: t.nsPath('a') });
  const kb = openXfrmBackend({ netns: t.nsPath('b') });
  const rows: Row[] = [];
  try {
    for (const [i, s] of SUITES.entries()) {
      process.stdout.write(`selftest: ${s.name} ...\n`);
      const row: Row = { suite: s.name, coldNs: NaN, warmNs: NaN, traffic: '-' };
      rows.push(row);
      try {
        const cold = saSpec(s.name, 0x400000 + 2 * i);
        const warm = saSpec(s.name, 0x400001 + 2 * i);
        row.coldNs = await timeNs(() => ka.addSa(cold));
        row.warmNs = await timeNs(() => ka.addSa(warm));
        for (const x of [cold, warm]) {
          await ka.deleteSa({ dst: x.dst, spi: x.spi, proto: 'esp' });
          wipe(x.keys);
        }
        row.traffic = await trafficCheck(t, ka, kb, s, 0x500000 + 2 * i);
        const m = await measureInstalls(ka, t.ns('a'), s.name, COUNTS);
        row.ours = summarize(m.ours).p50;
        row.c = summarize(m.c).p50;
        row.ip = summarize(m.ip).p50;
      } catch (e) {
        row.error = (e as Error).message;
        process.stdout.write(`selftest: ${s.name} FAILED: ${row.error}\n`);
        await ka.flushOwned().catch(() => undefined);
        await kb.flushOwned().catch(() => undefined);
      }
    }
  } finally {
    await ka.close();
    await kb.close();
    await t.destroy();
  }
  const table: Table = {
    title: `\nsipsec lab selftest: ${SUITES.length} suites, per-SA install latency (p50 of ${COUNTS.ours} ours / ${COUNTS.c} C / ${COUNTS.ip} ip), ratios to the C baseline`,
    headers: ['suite', 'traffic', 'cold', 'warm', 'cold/warm', 'C p50', 'ours p50', 'ours/C', 'ip p50', 'ip/C', 'ip/ours'],
    rows: rows.map((r) => [
      r.suite,
      r.error ? 'FAILED' : r.traffic,
      fmtNs(r.coldNs),
      fmtNs(r.warmNs),
      fmtRatio(ratio(r.coldNs, r.warmNs)),
      fmtNs(r.c ?? NaN),
      fmtNs(r.ours ?? NaN),
      fmtRatio(ratio(r.ours ?? NaN, r.c ?? NaN)),
      fmtNs(r.ip ?? NaN),
      fmtRatio(ratio(r.ip ?? NaN, r.c ?? NaN)),
      fmtRatio(ratio(r.ip ?? NaN, r.ours ?? NaN)),
    ]),
    notes: [
      'cold = first SA of the suite in this boot (module + crypto template load and self-test; templates shared with an earlier suite are already loaded); warm = the next SA.',
      'ours = XfrmBackend.addSa, NEWSA via koffi, send to ACK; C = native/nl_newsa.c, same message from C; ip = `ip xfrm state add`, spawn to exit (process start included).',
      'Absolute times are User-Mode Linux times (every syscall is slow): read the ratios.',
      ...rows.filter((r) => r.error).map((r) => `FAILED ${r.suite}: ${r.error}`),
    ],
  };
  process.stdout.write(formatTable(table));
  const failed = rows.filter((r) => r.error).length;
  process.stdout.write(failed ? `\nselftest: ${failed} of ${rows.length} suites FAILED\n` : `\nselftest: all ${rows.length} suites passed\n`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
