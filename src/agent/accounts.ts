/**
 * The local account database: /etc/passwd and /etc/group, parsed by small
 * pure parsers (no NSS: sipsecd's users and groups must be local accounts),
 * and the lookups of a configured user or group (a name or a numeric id).
 */
import { readFileSync } from 'node:fs';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

function idField(s: string | undefined): number | undefined {
  return s !== undefined && /^\d{1,10}$/.test(s) ? Number(s) : undefined;
}

/** passwd(5): `name:password:uid:gid:gecos:home:shell`; malformed lines and comments are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const uid = idField(f[2]);
    const gid = idField(f[3]);
    if (f.length < 4 || !f[0] || f[0].startsWith('#') || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid });
  }
  return out;
}

/** group(5): `name:password:gid:member,member`; malformed lines and comments are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const gid = idField(f[2]);
    if (f.length < 4 || !f[0] || f[0].startsWith('#') || gid === undefined) continue;
    out.push({ name: f[0], gid, members: f[3]!.split(',').map((m) => m.trim()).filter((m) => m !== '') });
  }
  return out;
}

export class AccountDb {
  constructor(
    readonly users: readonly PasswdEntry[],
    readonly groups: readonly GroupEntry[],
  ) {}

  static load(passwdFile = '/etc/passwd', groupFile = '/etc/group'): AccountDb {
    return new AccountDb(parsePasswd(readFileSync(passwdFile, 'utf8')), parseGroup(readFileSync(groupFile, 'utf8')));
  }

  /** A user entry by name or uid, only if /etc/passwd has it. */
  user(who: string | number): PasswdEntry | undefined {
    return this.users.find((u) => (typeof who === 'number' ? u.uid === who : u.name === who));
  }

  /** A uid by user name or number; a bare uid need not exist in /etc/passwd. */
  uid(who: string | number): number | undefined {
    return typeof who === 'number' ? who : this.user(who)?.uid;
  }

  /** A gid by group name or number; a bare gid need not exist in /etc/group. */
  gid(group: string | number): number | undefined {
    if (typeof group === 'number') return group;
    return this.groups.find((g) => g.name === group)?.gid;
  }

  /** Supplementary groups of a user (those listing it as a member), as for initgroups(3). */
  supplementaryGids(userName: string): number[] {
    return this.groups.filter((g) => g.members.includes(userName)).map((g) => g.gid);
  }
}
