import { describe, expect, it } from 'vitest';
import { AccountDb, parseGroup, parsePasswd } from '../../../src/agent/accounts.js';
import { authorizeCaller, CallOwnership, parseProcStatusGroups, withSupplementaryGroups } from '../../../src/agent/authz.js';
import { RequestError } from '../../../src/agent/errors.js';

const policy = { uids: [1000], gids: [990], adminGid: 991 };

describe('authorizeCaller', () => {
  it('root is an admin', () => {
    expect(authorizeCaller(policy, { pid: 1, uid: 0, gid: 0 })).toEqual({ admin: true });
  });
  it('an allowed uid, primary gid or supplementary gid may connect, not as admin', () => {
    expect(authorizeCaller(policy, { pid: 1, uid: 1000, gid: 1000 })).toEqual({ admin: false });
    expect(authorizeCaller(policy, { pid: 1, uid: 1005, gid: 990 })).toEqual({ admin: false });
    expect(authorizeCaller(policy, { pid: 1, uid: 1005, gid: 1005, groups: [27, 990] })).toEqual({ admin: false });
  });
  it('the admin group is admin', () => {
    expect(authorizeCaller(policy, { pid: 1, uid: 1005, gid: 1005, groups: [991] })).toEqual({ admin: true });
  });
  it('anyone else is refused', () => {
    expect(authorizeCaller(policy, { pid: 1, uid: 1005, gid: 1005, groups: [27] })).toBeNull();
    expect(authorizeCaller({ uids: [], gids: [] }, { pid: 1, uid: 1005, gid: 991 })).toBeNull();
  });
});

describe('supplementary groups from /proc/<pid>/status', () => {
  const status = 'Name:\tua\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t27 990 \n';
  it('parses Groups when Uid/Gid match', () => {
    expect(parseProcStatusGroups(status, 1000, 1000)).toEqual([27, 990]);
    expect(parseProcStatusGroups(status.replace('Groups:\t27 990 ', 'Groups:\t'), 1000, 1000)).toEqual([]);
  });
  it('ignores them when the pid now belongs to someone else, or the file is garbled', () => {
    expect(parseProcStatusGroups(status, 1001, 1000)).toBeUndefined();
    expect(parseProcStatusGroups(status, 1000, 1001)).toBeUndefined();
    expect(parseProcStatusGroups('Uid:\t1000\t1000\nGid:\t1000\t1000\n', 1000, 1000)).toBeUndefined();
    expect(parseProcStatusGroups('Uid:\tx\nGid:\t1\nGroups:\t1\n', 1000, 1000)).toBeUndefined();
  });
  it('reads this process and falls back to the primary gid for a vanished pid', () => {
    const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
    const groups = withSupplementaryGroups(me).groups;
    expect(Array.isArray(groups)).toBe(true);
    // getgroups(2) may add the egid; /proc lists only the supplementary list
    expect(groups!.every((g) => process.getgroups!().includes(g))).toBe(true);
    expect(withSupplementaryGroups({ pid: 0x3fffffff, uid: 1, gid: 1 })).toEqual({ pid: 0x3fffffff, uid: 1, gid: 1 });
  });
});

describe('CallOwnership', () => {
  const alice = { uid: 1000, admin: false };
  const bob = { uid: 1001, admin: false };
  const admin = { uid: 0, admin: true };
  const codeOf = (fn: () => void): string => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(RequestError);
      return (e as RequestError).code;
    }
    return 'ok';
  };
  it('only the owner (or an admin) may act on a call', () => {
    const o = new CallOwnership();
    o.claim('c1', alice);
    expect(codeOf(() => o.check('c1', alice))).toBe('ok');
    expect(codeOf(() => o.check('c1', bob))).toBe('forbidden');
    expect(codeOf(() => o.check('c1', admin))).toBe('ok');
    expect(codeOf(() => o.check('c2', alice))).toBe('no-such-call');
    expect(codeOf(() => o.claim('c1', bob))).toBe('forbidden');
    expect(o.visible('c1', bob)).toBe(false);
    expect(o.visible('c1', admin)).toBe(true);
    expect(o.owner('c1')).toBe(1000);
    o.release('c1');
    expect(codeOf(() => o.check('c1', alice))).toBe('no-such-call');
  });
});

describe('account database', () => {
  it('parses passwd and group, skipping junk lines, and resolves names and numbers', () => {
    const db = new AccountDb(
      parsePasswd('# comment\nalice:x:1000:1000::/home/alice:/bin/sh\nbroken\nevil:x:-1:0::/:/bin/sh\n'),
      parseGroup('sipsec:x:990:alice, bob\nbad:x:x:\n'),
    );
    expect(db.users.map((u) => u.name)).toEqual(['alice']);
    expect(db.groups).toEqual([{ name: 'sipsec', gid: 990, members: ['alice', 'bob'] }]);
    expect(db.uid('alice')).toBe(1000);
    expect(db.uid(4242)).toBe(4242);
    expect(db.uid('nobody')).toBeUndefined();
    expect(db.gid('sipsec')).toBe(990);
    expect(db.gid('bad')).toBeUndefined();
    expect(db.supplementaryGids('bob')).toEqual([990]);
  });
});
