/**
 * Per-SA install latency by three methods, measured side by side in one
 * namespace of one boot (UML syscalls are slow: only ratios mean anything):
 *
 *  - ours:   XfrmBackend.addSa (NEWSA through koffi, send to ACK), timed in-process;
 *  - c:      native/nl_newsa.c, the same NEWSA from C (send to ACK, timed in C);
 *  - ip:     `ip -n NS xfrm state add ...`, timed from spawn to exit, so process
 *            start (fork, exec, dynamic linking, netlink socket setup) is included.
 *
 * Every method installs transport-mode ESP SAs 10.0.0.1 -> 10.0.0.2 of one
 * suite with distinct SPIs and deletes them afterwards.  Rounds interleave the
 * methods so that drift within the boot hits all of them alike.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { suiteByName, type SuiteName } from '../kernel/algorithms.js';
import { ownedReqid, type KernelIpsec, type SaKeys, type SaSpec } from '../kernel/types.js';
import { timeNs } from './stats.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const NL_NEWSA_SRC = resolve(ROOT, 'native', 'nl_newsa.c');
export const NL_NEWSA_BIN = resolve(ROOT, 'native', 'build', 'nl_newsa');

export const SRC = '10.0.0.1';
export const DST = '10.0.0.2';
/** nl_newsa uses 0x10000 + i; we stay clear of it. */
const SPI_OURS = 0x200000;
const SPI_IP = 0x300000;
// PF_KEY can carry only ownedReqid(0..1023) (ipsecrequest's 14-bit reqid).
const REQID = ownedReqid(1000);

export class BenchError extends Error {
  override readonly name = 'BenchError';
}

/** Compile native/nl_newsa.c into native/build/ when the binary is missing or older than the source. */
export function ensureNlNewsa(): string {
  if (existsSync(NL_NEWSA_BIN) && statSync(NL_NEWSA_BIN).mtimeMs >= statSync(NL_NEWSA_SRC).mtimeMs) return NL_NEWSA_BIN;
  mkdirSync(resolve(ROOT, 'native', 'build'), { recursive: true });
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', NL_NEWSA_BIN, NL_NEWSA_SRC], { encoding: 'utf8' });
  if (r.status !== 0) throw new BenchError(`cannot compile ${NL_NEWSA_SRC}: ${r.error?.message ?? r.stderr}`);
  return NL_NEWSA_BIN;
}

export function keysFor(suite: SuiteName): SaKeys {
  const s = suiteByName(suite);
  return s.authKeyBytes ? { encKey: randomBytes(s.encKeyBytes), authKey: randomBytes(s.authKeyBytes) } : { encKey: randomBytes(s.encKeyBytes) };
}

export function saSpec(suite: SuiteName, spi: number, src = SRC, dst = DST, reqid = REQID): SaSpec {
  return { src, dst, spi, proto: 'esp', mode: 'transport', reqid, suite, keys: keysFor(suite) };
}

/** `ip xfrm state add` arguments for an SA of `suite` (keys random, as hex). */
export function ipStateArgs(suite: SuiteName, spi: number, src = SRC, dst = DST): string[] {
  const s = suiteByName(suite);
  // A zero-length key (cipher_null) is an empty argument.
  const hex = (n: number) => (n ? '0x' + randomBytes(n).toString('hex') : '');
  const alg = s.aead
    ? ['aead', s.aead.xfrmName, hex(s.encKeyBytes), String(s.aead.icvBits)]
    : ['enc', s.crypt!.xfrmName, hex(s.encKeyBytes), 'auth-trunc', s.auth!.xfrmName, hex(s.authKeyBytes), String(s.auth!.truncBits)];
  return ['xfrm', 'state', 'add', 'src', src, 'dst', dst, 'proto', 'esp', 'spi', '0x' + spi.toString(16), 'reqid', String(REQID), 'mode', 'transport', ...alg];
}

/** Latencies (ns) of `count` NEWSA from C, in namespace `ns`; the tool deletes its SAs. */
export function runNlNewsa(ns: string, count: number, suite: SuiteName): number[] {
  const r = spawnSync('ip', ['netns', 'exec', ns, ensureNlNewsa(), String(count), suite], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new BenchError(`nl_newsa ${count} ${suite} failed: ${r.error?.message ?? r.stderr.trim()}`);
  const ns_ = r.stdout.trim().split('\n').filter(Boolean).map(Number);
  if (ns_.length !== count || ns_.some((v) => !Number.isFinite(v) || v <= 0)) throw new BenchError(`nl_newsa printed ${ns_.length} latencies, expected ${count}`);
  return ns_;
}

/** Latencies (ns) of `count` addSa calls through `k`; deletes the SAs again. */
export async function timeBackendAdds(k: KernelIpsec, count: number, suite: SuiteName, spiBase = SPI_OURS): Promise<number[]> {
  const out: number[] = [];
  const specs = Array.from({ length: count }, (_, i) => saSpec(suite, spiBase + i));
  try {
    for (const s of specs) out.push(await timeNs(() => k.addSa(s)));
  } finally {
    for (const s of specs.slice(0, out.length)) await k.deleteSa({ dst: s.dst, spi: s.spi, proto: 'esp' });
    for (const s of specs) wipe(s.keys);
  }
  return out;
}

/** Wall time (ns) of `count` `ip -n NS xfrm state add` processes; deletes the SAs through `k`. */
export async function timeIpAdds(k: KernelIpsec, ns: string, count: number, suite: SuiteName, spiBase = SPI_IP): Promise<number[]> {
  const out: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const argv = ['-n', ns, ...ipStateArgs(suite, spiBase + i)];
      const t0 = process.hrtime.bigint();
      const r = spawnSync('ip', argv, { encoding: 'utf8' });
      const dt = Number(process.hrtime.bigint() - t0);
      if (r.status !== 0) throw new BenchError(`ip xfrm state add (${suite}) failed: ${r.stderr.trim()}`);
      out.push(dt);
    }
  } finally {
    for (let i = 0; i < out.length; i++) await k.deleteSa({ dst: DST, spi: spiBase + i, proto: 'esp' });
  }
  return out;
}

export interface InstallSamples {
  ours: number[];
  c: number[];
  ip: number[];
}

/**
 * Interleaved rounds: each round runs C, ours and ip for its share of the
 * counts, so the three methods see the same boot, namespace and table sizes.
 */
export async function measureInstalls(
  k: KernelIpsec,
  ns: string,
  suite: SuiteName,
  counts: { ours: number; c: number; ip: number },
  rounds = 5,
): Promise<InstallSamples> {
  const out: InstallSamples = { ours: [], c: [], ip: [] };
  const share = (n: number, r: number) => Math.floor(n / rounds) + (r < n % rounds ? 1 : 0);
  for (let r = 0; r < rounds; r++) {
    const c = share(counts.c, r);
    const o = share(counts.ours, r);
    const p = share(counts.ip, r);
    if (c) out.c.push(...runNlNewsa(ns, c, suite));
    if (o) out.ours.push(...(await timeBackendAdds(k, o, suite)));
    if (p) out.ip.push(...(await timeIpAdds(k, ns, p, suite)));
  }
  return out;
}

export function wipe(keys: SaKeys): void {
  keys.encKey.fill(0);
  keys.authKey?.fill(0);
}
