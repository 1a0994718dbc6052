/**
 * After start-up (config read, socket bound, netlink sockets open) sipsecd
 * keeps only CAP_NET_ADMIN, which XFRM netlink needs.
 *
 * `dropPrivileges` (koffi, src/kernel/ffi.ts), in this order:
 *  1. drop every capability but the kept ones from the bounding set
 *     (PR_CAPBSET_DROP; needs CAP_SETPCAP, so before leaving root);
 *  2. if `runAs` is given: PR_SET_KEEPCAPS, setgroups, setresgid, setresuid
 *     (glibc applies these to every thread), PR_SET_KEEPCAPS off.  Moving
 *     all uids away from 0 clears the effective set, and — since KEEPCAPS is
 *     per thread and set on this one only — the permitted set of every other
 *     thread (libuv pool, V8 workers): they end with no capability at all;
 *  3. capset (_LINUX_CAPABILITY_VERSION_3): permitted = effective = kept;
 *     inheritable = kept only with `ambient`, else empty;
 *  4. clear the ambient set, and with `ambient` raise the kept ones again
 *     (so a child such as `ip xfrm` inherits them; off by default);
 *  5. PR_SET_NO_NEW_PRIVS.
 * Steps 1, 3, 4 and 5 act on the calling (main) thread, which is the one
 * that runs the daemon's code and forks its children.
 *
 * The systemd alternative (config/sipsecd.service) needs no code: User=sipsec,
 * AmbientCapabilities=CAP_NET_ADMIN, CapabilityBoundingSet=CAP_NET_ADMIN,
 * NoNewPrivileges=yes.  There `runAs` is left out and this function only
 * narrows what is already narrow (and skips capset when nothing changes).
 */
import { readFileSync } from 'node:fs';
import {
  capget,
  capset,
  prctl,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  PR_CAPBSET_DROP,
  PR_SET_KEEPCAPS,
  PR_SET_NO_NEW_PRIVS,
  setgroups,
  setresgid,
  setresuid,
  type CapSets,
} from '../kernel/ffi.js';

export const CAP_NET_ADMIN = 12;
const PR_CAPBSET_READ = 23;
const PR_CAP_AMBIENT_RAISE = 2;

export interface DropOptions {
  /** Switch to this user (and exactly these groups); omit when already started as the daemon user. */
  readonly runAs?: { readonly uid: number; readonly gid: number; readonly groups: readonly number[] };
  /** Capabilities to keep; default [CAP_NET_ADMIN]. */
  readonly keep?: readonly number[];
  /** Also pass the kept capabilities to child processes (ambient set). */
  readonly ambient?: boolean;
}

export class PrivilegeError extends Error {
  override readonly name = 'PrivilegeError';
}

export function capabilityMask(caps: readonly number[]): bigint {
  return caps.reduce((m, c) => m | (1n << BigInt(c)), 0n);
}

/** The Cap* lines of a /proc/<pid>/status text as masks. */
export function parseProcCaps(status: string): Record<'CapInh' | 'CapPrm' | 'CapEff' | 'CapBnd' | 'CapAmb', bigint | undefined> {
  const get = (name: string): bigint | undefined => {
    const m = new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'mi').exec(status);
    return m ? BigInt(`0x${m[1]}`) : undefined;
  };
  return { CapInh: get('CapInh'), CapPrm: get('CapPrm'), CapEff: get('CapEff'), CapBnd: get('CapBnd'), CapAmb: get('CapAmb') };
}

/** Drop to the kept capabilities (and `runAs` user); returns the final capability sets of this thread. */
export function dropPrivileges(options: DropOptions = {}): CapSets {
  const keep = options.keep ?? [CAP_NET_ADMIN];
  const keepMask = capabilityMask(keep);
  const lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());

  for (let cap = 0; cap <= lastCap; cap++) {
    if (!keep.includes(cap) && prctl(PR_CAPBSET_READ, cap) === 1) prctl(PR_CAPBSET_DROP, cap);
  }

  if (options.runAs) {
    const { uid, gid, groups } = options.runAs;
    prctl(PR_SET_KEEPCAPS, 1);
    setgroups(groups);
    setresgid(gid);
    setresuid(uid);
    prctl(PR_SET_KEEPCAPS, 0);
  }

  const now = capget();
  if ((now.permitted & keepMask) !== keepMask) {
    throw new PrivilegeError(`missing capabilities: have permitted 0x${now.permitted.toString(16)}, need 0x${keepMask.toString(16)}`);
  }
  const want: CapSets = { effective: keepMask, permitted: keepMask, inheritable: options.ambient ? keepMask : 0n };
  if (now.effective !== want.effective || now.permitted !== want.permitted || now.inheritable !== want.inheritable) capset(want);

  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
  if (options.ambient) for (const cap of keep) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap);
  prctl(PR_SET_NO_NEW_PRIVS, 1);
  return capget();
}
