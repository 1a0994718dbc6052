/**
 * Lab fixtures shared by the in-lab benchmarks: the two-host topology, the
 * daemon (a real sipsecd process with a generated PSK config), and MIKEY
 * offers made in-process as the peer's UA would get them from its daemon.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SipsecClient } from '../client/client.js';
import { suiteByName, type SuiteName } from '../kernel/algorithms.js';
import { sipsecdCommand, SIPSECD_BIN } from '../lab/sipsecd-command.js';
import { createTopology, type Topology } from '../lab/topology.js';
import { createOffer } from '../mikey/initiator.js';
import { policyForSuite } from '../mikey/negotiate.js';
import { BenchError, DST, SRC } from './install.js';

export const ALICE = 'sip:alice@bench.example';
export const BOB = 'sip:bob@bench.example';
export const PSK = Uint8Array.from({ length: 20 }, (_, i) => 0x30 + i);

export function requireLab(): void {
  if (process.env.SIPSEC_LAB_INSIDE !== '1') throw new BenchError('this benchmark runs inside the lab (npm run bench boots it)');
}

/** Hosts a (10.0.0.1) and b (10.0.0.2) joined by veth; `extra` more /16 addresses on a. */
export function twoHosts(prefix: string): Promise<Topology> {
  return createTopology(
    { hosts: [{ name: 'a', addrs: [`${SRC}/16`] }, { name: 'b', addrs: [`${DST}/16`] }], links: [{ type: 'veth', a: 'a', b: 'b' }] },
    prefix,
  );
}

export interface Daemon {
  client(): Promise<SipsecClient>;
  pid: number;
  /** The last 64 KiB the daemon wrote to stderr (its JSON log lines). */
  logTail(): string;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  /** Every address of the identity (default: [me.addr]). */
  addrs?: readonly string[];
  /** socket.maxConnections (default: the daemon's). */
  maxConnections?: number;
  /** Seconds a released peer's SAs linger (default 3600). */
  linger?: number;
  /** Start node without sipsecd's node flags and allocator settings (src/lab/sipsecd-command.ts; a reference for them). */
  plainNode?: boolean;
}

/** Start sipsecd in `host` as `me`, with one PSK peer `peer` and suite `suite`. */
export async function startDaemon(
  t: Topology,
  host: string,
  me: { uri: string; addr: string },
  peer: string,
  suite: SuiteName,
  o: DaemonOptions = {},
): Promise<Daemon> {
  const dir = mkdtempSync('/tmp/sipsec-bench-');
  mkdirSync(join(dir, 'state'));
  writeFileSync(join(dir, 'psk'), Buffer.from(PSK).toString('hex') + '\n', { mode: 0o600 });
  const sock = join(dir, 'sipsecd.sock');
  writeFileSync(
    join(dir, 'sipsecd.yaml'),
    `identities:
  - uri: ${me.uri}
    addresses: [${(o.addrs ?? [me.addr]).join(', ')}]
peers:
  - match: ${peer}
    mode: psk
    psk: { file: ${join(dir, 'psk')}, format: hex }
algorithms: { suites: [${suite}], minimum: ${suite} }
linger: ${o.linger ?? 3600}
socket: { path: ${sock}, mode: "0660"${o.maxConnections ? `, maxConnections: ${o.maxConnections}` : ''} }
stateDir: ${join(dir, 'state')}
`,
    { mode: 0o600 },
  );
  const args = ['--config', join(dir, 'sipsecd.yaml')];
  const cmd = sipsecdCommand(args);
  const child: ChildProcess = o.plainNode ? t.spawn(host, [process.execPath, SIPSECD_BIN, ...args]) : t.spawn(host, cmd.argv, { env: cmd.env });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    // Cut back now and then, not a 64 KiB copy per chunk the daemon writes (the load benchmark's generator reads them).
    err += c.toString();
    if (err.length > 2 * 65536) err = err.slice(-65536);
  });
  child.stdout?.resume();
  const stop = async () => {
    child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('close', r)));
    rmSync(dir, { recursive: true, force: true });
  };
  // node starts slowly in UML, slower still on a loaded machine: up to a minute.
  for (let i = 0; i < 1200; i++) {
    const c = existsSync(sock) ? await SipsecClient.connect(sock).catch(() => undefined) : undefined;
    if (c) {
      const status = await c.ping();
      c.close();
      void status;
      // `ip netns exec` execs node: the child's pid is the daemon's.
      return { client: () => SipsecClient.connect(sock), pid: child.pid!, logTail: () => err.slice(-65536), stop };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new BenchError(`sipsecd did not start: ${err.trim().split('\n').slice(-3).join(' ')}`);
}

/** A fresh MIKEY-PSK offer from alice at `addr` (as her daemon would make it). */
export function pskOffer(addr: string, inboundSpi: number, suite: SuiteName): Uint8Array {
  const { message, state } = createOffer({
    mode: 'psk',
    localId: ALICE,
    peerId: BOB,
    localAddr: addr,
    inboundSpi,
    policy: policyForSuite(suiteByName(suite)),
    credentials: { psk: PSK },
  });
  state.wipe();
  return message;
}

/** Resident set size of a process in bytes (from /proc/PID/status VmRSS). */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new BenchError(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** CPU time (user + system) process `pid` has used so far, seconds (/proc/<pid>/stat, in USER_HZ = 100 ticks). */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name in parentheses: state is field 3, utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  if (!Number.isFinite(ticks)) throw new BenchError(`no CPU times for pid ${pid}`);
  return ticks / 100;
}

/** Peer address number i (i < 65000) in 10.0.0.0/16, never .1/.2 of the lab hosts. */
export function peerAddr(i: number): string {
  const n = i + 256;
  return `10.0.${n >> 8}.${n & 255}`;
}
