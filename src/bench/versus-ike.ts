/**
 * versus-ike: strongSwan (charon + swanctl, IKEv2 with PSK) against sipsec
 * (offer → answer → confirm through two sipsecd daemons, MIKEY-PSK), between
 * the same two lab hosts in the same boot: time from the start of key
 * exchange to the first protected packet (a ping that succeeds through ESP).
 *
 *  - strongSwan: spawn `swanctl --initiate --child c` (returns when the CHILD_SA
 *    is installed), then `ping -c1`; charon runs in each host's namespace with
 *    its own strongswan.conf (STRONGSWAN_CONF), vici socket and a private /run
 *    (its pid file is fixed at /var/run/charon.pid).  IKE proposal
 *    aes128-sha256-modp2048 (IKEv2 always does a DH: group 14), ESP aes128gcm16,
 *    transport mode.
 *  - sipsec: client `offer` to a's daemon, `answer` to b's, `confirm` to a's,
 *    then `ping -c1`; ESP aes-gcm-128, transport mode.  MIKEY-PSK has no DH.
 *
 * Daemon start-up is excluded from both.  ARP, the page cache, the kernel's
 * first GCM SA of the boot and each contender's first exchange are warmed up
 * before any timing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Topology } from '../lab/topology.js';
import { toCsv } from './csv.js';
import { openXfrmBackend } from '../kernel/xfrm/backend.js';
import { BenchError, DST, SRC, saSpec, wipe } from './install.js';
import { ALICE, BOB, requireLab, startDaemon, twoHosts } from './lab-env.js';
import type { BenchResult, BenchSize, Check } from './results.js';
import { fmtNs, fmtRatio, ratio, summarize, timeNs } from './stats.js';
import { barChart } from './svg.js';

const RUNS: Record<BenchSize, number> = { tiny: 1, small: 5, full: 20 };
const CHARON = '/usr/lib/ipsec/charon';
const SWANCTL = '/usr/sbin/swanctl';
const PSK_HEX = '0x' + '5a'.repeat(32);

export function strongswanAvailable(): boolean {
  return existsSync(CHARON) && existsSync(SWANCTL);
}

function strongswanConf(dir: string, host: string): string {
  return `charon {
  load = random nonce aes sha1 sha2 hmac kdf gmp pem pkcs1 x509 pubkey kernel-netlink socket-default vici
  install_routes = no
  install_virtual_ip = no
  plugins { vici { socket = unix://${dir}/${host}.vici } }
  filelog { log { path = ${dir}/${host}.log
    default = 1 } }
  syslog { daemon { default = -1 } }
}
`;
}

function swanctlConf(self: string, peer: string, selfId: string, peerId: string): string {
  return `connections {
  c {
    version = 2
    local_addrs = ${self}
    remote_addrs = ${peer}
    proposals = aes128-sha256-modp2048
    local { auth = psk
      id = ${selfId} }
    remote { auth = psk
      id = ${peerId} }
    children { c { mode = transport
        esp_proposals = aes128gcm16
        start_action = none } }
  }
}
secrets { ike-1 { id-1 = ${selfId}
    id-2 = ${peerId}
    secret = ${PSK_HEX} } }
`;
}

async function waitFor(path: string, ms: number): Promise<boolean> {
  for (let i = 0; i < ms / 50; i++) {
    if (existsSync(path)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

async function must(t: Topology, host: string, argv: string[], what: string): Promise<string> {
  const r = await t.exec(host, argv, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new BenchError(`${what} failed (${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
  return r.stdout;
}

async function pingOnce(t: Topology): Promise<void> {
  await must(t, 'a', ['ping', '-c', '1', '-W', '2', DST], 'ping');
}

async function timeStrongswan(t: Topology, runs: number, onProgress: (w: string) => void): Promise<number[]> {
  const dir = mkdtempSync('/tmp/sipsec-vs-ike-');
  const charons: ChildProcess[] = [];
  try {
    for (const [host, self, peer, selfId, peerId] of [['a', SRC, DST, 'a.bench', 'b.bench'], ['b', DST, SRC, 'b.bench', 'a.bench']] as const) {
      writeFileSync(join(dir, `${host}.strongswan.conf`), strongswanConf(dir, host));
      writeFileSync(join(dir, `${host}.swanctl.conf`), swanctlConf(self, peer, selfId, peerId), { mode: 0o600 });
      const child = spawn('ip', ['netns', 'exec', t.ns(host), 'sh', '-c', `mount -t tmpfs tmpfs /run && exec ${CHARON}`], {
        env: { ...process.env, STRONGSWAN_CONF: join(dir, `${host}.strongswan.conf`) },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      charons.push(child);
      if (!(await waitFor(join(dir, `${host}.vici`), 20_000))) throw new BenchError(`charon in ${host} did not open its vici socket`);
      await must(t, host, ['swanctl', '--load-all', '--file', join(dir, `${host}.swanctl.conf`), '--uri', `unix://${dir}/${host}.vici`], `swanctl --load-all (${host})`);
    }
    const out: number[] = [];
    // Run 0 is a warm-up (charon's first exchange, page cache), not recorded.
    for (let i = 0; i <= runs; i++) {
      onProgress(i ? `strongSwan run ${i}/${runs}` : 'strongSwan warm-up');
      const dt = await timeNs(async () => {
          await must(t, 'a', ['swanctl', '--initiate', '--child', 'c', '--timeout', '30', '--uri', `unix://${dir}/a.vici`], 'swanctl --initiate');
          await pingOnce(t);
        });
      if (i) out.push(dt);
      const sas = await must(t, 'a', ['ip', 'xfrm', 'state'], 'ip xfrm state');
      if (!/proto esp/.test(sas)) throw new BenchError('strongSwan reported success but installed no ESP SA');
      await must(t, 'a', ['swanctl', '--terminate', '--ike', 'c', '--timeout', '30', '--uri', `unix://${dir}/a.vici`], 'swanctl --terminate');
    }
    return out;
  } finally {
    for (const c of charons) {
      c.kill('SIGTERM');
      await new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once('close', r)));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

async function timeSipsec(t: Topology, runs: number, onProgress: (w: string) => void): Promise<number[]> {
  const da = await startDaemon(t, 'a', { uri: ALICE, addr: SRC }, BOB, 'aes-gcm-128');
  const db = await startDaemon(t, 'b', { uri: BOB, addr: DST }, ALICE, 'aes-gcm-128');
  try {
    const ca = await da.client();
    const cb = await db.client();
    const out: number[] = [];
    // Run 0 is a warm-up (the daemons' first exchange: cold JavaScript), not recorded.
    for (let i = 0; i <= runs; i++) {
      onProgress(i ? `sipsec run ${i}/${runs}` : 'sipsec warm-up');
      const callId = `vs-${i}`;
      const dt = await timeNs(async () => {
          const offer = await ca.offer({ callId, localUri: ALICE, peerUri: BOB, localAddress: SRC });
          const answer = await cb.answer({ callId, localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: SRC, localAddress: DST });
          await ca.confirm({ callId, mikey: answer.mikey, peerAddress: DST });
          await pingOnce(t);
        });
      if (i) out.push(dt);
      await ca.release(callId);
      await cb.release(callId);
      await ca.flush();
      await cb.flush();
    }
    ca.close();
    cb.close();
    return out;
  } finally {
    await da.stop();
    await db.stop();
  }
}

export async function benchVersusIke(size: BenchSize, onProgress: (what: string) => void = () => undefined): Promise<BenchResult> {
  requireLab();
  if (!strongswanAvailable()) throw new BenchError('strongSwan is not installed (apt-get install strongswan-swanctl strongswan-charon, see scripts/setup)');
  const runs = RUNS[size];
  const t = await twoHosts('bvi-');
  try {
    // Warm-up, before any policy exists: ARP, the ping binary in the page cache, and the
    // kernel's first rfc4106(gcm(aes)) SA of this boot (crypto self-tests: seconds in UML),
    // which would otherwise land on whichever contender runs first.
    for (let i = 0; i < 3; i++) await pingOnce(t);
    for (const host of ['a', 'b']) {
      const k = openXfrmBackend({ netns: t.nsPath(host) });
      const sa = saSpec('aes-gcm-128', 0x7f0000);
      await k.addSa(sa);
      await k.deleteSa({ dst: sa.dst, spi: sa.spi, proto: 'esp' });
      wipe(sa.keys);
      await k.close();
    }
    const plain: number[] = [];
    for (let i = 0; i < Math.max(3, runs); i++) plain.push(await timeNs(() => pingOnce(t)));
    const ike = await timeStrongswan(t, runs, onProgress);
    const sip = await timeSipsec(t, runs, onProgress);
    const p = summarize(plain);
    const si = summarize(ike);
    const ss = summarize(sip);
    const checks: Check[] = [
      {
        what: 'sipsec offer→answer→confirm→first ESP packet vs strongSwan IKEv2 (p50)',
        target: 'faster (< 1x)',
        measured: `${fmtRatio(ratio(ss.p50, si.p50))} (net of ping floor ${fmtRatio(ratio(ss.p50 - p.p50, si.p50 - p.p50))})`,
        met: ss.p50 < si.p50,
      },
    ];
    const rows = [
      ['plain ping (no IPsec), the floor', p],
      ['strongSwan IKEv2-PSK (swanctl --initiate, ping)', si],
      ['sipsec MIKEY-PSK (offer, answer, confirm, ping)', ss],
    ] as const;
    return {
      name: 'versus-ike',
      tables: [
        {
          title: 'Key exchange to first protected packet, same two lab hosts, same boot',
          headers: ['method', 'runs', 'p50', 'min', 'max', 'p50 / strongSwan', 'p50 − ping floor', 'net / strongSwan net'],
          rows: rows.map(([m, s]) => [
            m, String(s.n), fmtNs(s.p50), fmtNs(s.min), fmtNs(s.max), fmtRatio(ratio(s.p50, si.p50)),
            fmtNs(s.p50 - p.p50), s === p ? '-' : fmtRatio(ratio(s.p50 - p.p50, si.p50 - p.p50)),
          ]),
          notes: [
            'ping floor = p50 of `ip netns exec a ping -c1` without IPsec: in UML its process start dominates; "net" subtracts it (noisy: runs vary by ± the floor\'s spread).',
            'Both include one `ping -c1` process; strongSwan also includes the swanctl process start, sipsec three socket requests from this process.',
            'IKEv2 does a MODP-2048 DH and two round trips (IKE_SA_INIT, IKE_AUTH); MIKEY-PSK is one round trip without DH.',
          ],
        },
      ],
      csv: { 'versus-ike': toCsv(['method', 'runs', 'p50_ns', 'min_ns', 'max_ns', 'p50_minus_ping_floor_ns'], rows.map(([m, s]) => [m, s.n, s.p50, s.min, s.max, s.p50 - p.p50])) },
      svg: {
        'versus-ike': barChart({
          title: 'Key exchange to first protected packet (p50, ms)',
          yLabel: 'ms (User-Mode Linux)',
          categories: ['plain ping', 'strongSwan IKEv2', 'sipsec MIKEY'],
          series: [
            { name: 'p50', values: [p.p50 / 1e6, si.p50 / 1e6, ss.p50 / 1e6] },
            // A net figure below zero (noise around the floor) is drawn as zero.
            { name: 'p50 − ping floor', values: [0, Math.max(0, si.p50 - p.p50) / 1e6, Math.max(0, ss.p50 - p.p50) / 1e6] },
          ],
        }),
      },
      checks,
      context: { size, strongswan: /strongSwan [\d.]+/.exec(spawnSync(SWANCTL, ['--version'], { encoding: 'utf8' }).stdout)?.[0] ?? 'strongSwan' },
    };
  } finally {
    await t.destroy();
  }
}
