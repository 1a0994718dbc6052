/**
 * Who may use the sipsecd socket, and what they may do.
 *
 * The caller is known by SO_PEERCRED (pid, uid, gid at connect time; see
 * src/kernel/ffi.ts `peerCredentials`).  Supplementary groups are read from
 * /proc/<pid>/status ("Groups:") right after accept.  That is racy: the
 * client may exit and its pid be reused before we read.  We accept the
 * groups only if the status file's real and effective Uid and Gid match the
 * SO_PEERCRED ones, otherwise we fall back to the primary gid alone (the
 * caller is then judged by uid and primary gid only).  The residual risk is a
 * process of the same uid and gid whose pid was reused, lending its groups;
 * deployments that cannot accept that grant access by user or primary group.
 *
 * Rules: root, the configured users and members of the configured groups
 * (or of the admin group) may connect; root and the admin group are admins
 * (status/peers/sas/calls of everything, flush); others see and touch only
 * the calls they opened (`CallOwnership`).
 */
import { readFileSync } from 'node:fs';
import { RequestError } from './errors.js';

export interface PeerCred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups, when they could be read reliably. */
  readonly groups?: readonly number[];
}

export interface AccessPolicy {
  readonly uids: readonly number[];
  readonly gids: readonly number[];
  readonly adminGid?: number;
}

export interface Authorization {
  readonly admin: boolean;
}

/** null: the caller may not use the socket. */
export function authorizeCaller(policy: AccessPolicy, cred: PeerCred): Authorization | null {
  const gids = [cred.gid, ...(cred.groups ?? [])];
  const admin = cred.uid === 0 || (policy.adminGid !== undefined && gids.includes(policy.adminGid));
  if (admin || policy.uids.includes(cred.uid) || gids.some((g) => policy.gids.includes(g))) return { admin };
  return null;
}

/**
 * The supplementary groups in a /proc/<pid>/status text, if its Uid and Gid
 * lines (real, effective, saved, fs) have `uid`/`gid` as real and effective
 * ids; undefined otherwise.
 */
export function parseProcStatusGroups(status: string, uid: number, gid: number): number[] | undefined {
  const field = (name: string): number[] | undefined => {
    const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status);
    if (!m) return undefined;
    const ids = m[1]!.trim().split(/\s+/).filter((s) => s !== '');
    return ids.every((s) => /^\d+$/.test(s)) ? ids.map(Number) : undefined;
  };
  const uids = field('Uid');
  const gidsLine = field('Gid');
  const groups = field('Groups');
  if (!uids || !gidsLine || !groups || uids[0] !== uid || uids[1] !== uid || gidsLine[0] !== gid || gidsLine[1] !== gid) return undefined;
  return groups;
}

/** SO_PEERCRED plus supplementary groups read (racily, see above) from /proc. */
export function withSupplementaryGroups(cred: PeerCred, procRoot = '/proc'): PeerCred {
  let status: string;
  try {
    status = readFileSync(`${procRoot}/${cred.pid}/status`, 'utf8');
  } catch {
    return cred;
  }
  const groups = parseProcStatusGroups(status, cred.uid, cred.gid);
  return groups ? { ...cred, groups } : cred;
}

export interface Caller {
  readonly uid: number;
  readonly admin: boolean;
}

/**
 * The owner (uid) of each open call.  A UA may confirm or release only the
 * calls it opened with offer/answer; admins may touch any call.
 */
export class CallOwnership {
  readonly #owners = new Map<string, number>();

  /** Record `callId` as opened by `caller`; a call id already owned by another uid is refused. */
  claim(callId: string, caller: Caller): void {
    const owner = this.#owners.get(callId);
    if (owner !== undefined && owner !== caller.uid) throw new RequestError('forbidden', 'call id is in use by another user');
    this.#owners.set(callId, caller.uid);
  }

  /** Throws no-such-call or forbidden unless `caller` may act on `callId`. */
  check(callId: string, caller: Caller): void {
    const owner = this.#owners.get(callId);
    if (owner === undefined) throw new RequestError('no-such-call', 'no such call');
    if (owner !== caller.uid && !caller.admin) throw new RequestError('forbidden', 'the call belongs to another user');
  }

  /** May `caller` see this call in listings? */
  visible(callId: string, caller: Caller): boolean {
    return caller.admin || this.#owners.get(callId) === caller.uid;
  }

  owner(callId: string): number | undefined {
    return this.#owners.get(callId);
  }

  release(callId: string): void {
    this.#owners.delete(callId);
  }
}
