import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateStore, type PeerRecord, type PersistedState } from '../../../src/agent/state.js';
import { ReplayCache, type ReplayRecord } from '../../../src/mikey/replay.js';
import { TsType } from '../../../src/mikey/payloads/t.js';
import { msToNtp } from '../../../src/mikey/timestamp.js';

const peer = (n: number): PeerRecord => ({
  local: '10.0.0.1',
  peer: `10.0.1.${n}`,
  reqid: 0x5e000000 + n,
  inSpi: 0x1000 + n,
  outSpi: 0x2000 + n,
  suite: 'aes-gcm-128',
  mode: 'transport',
  selectors: [{ src: '10.0.0.1', dst: `10.0.1.${n}` }],
  installedAt: 1,
  retiring: [],
});
const call = (id: string, n: number) => ({ callId: id, owner: 1000, peerKey: `10.0.0.1|10.0.1.${n}`, since: 2, localUri: 'sip:a@x', peerUri: 'sip:b@y' });
const empty = (): PersistedState => ({ version: 1, savedAt: 0, peers: [], calls: [], replay: new ReplayCache().serialize() });

describe('StateStore: snapshot + journal', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipsec-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('applies the journal on top of the snapshot: upserts, removals and replay commits, in order', () => {
    const s = new StateStore(dir);
    expect(s.save({ ...empty(), peers: [peer(1), peer(2)], calls: [call('c1', 1)] })).toBe(true);
    const r: ReplayRecord = { key: 'alice\u00001\u00000\u0000aa', expiry: 99 };
    expect(s.commit([{ t: 'peer', key: '10.0.0.1|10.0.1.3', v: peer(3) }, { t: 'call', v: call('c3', 3) }, { t: 'replay', v: r }], empty)).toBe(true);
    expect(s.commit([{ t: 'peer-', key: '10.0.0.1|10.0.1.1' }, { t: 'call-', callId: 'c1' }, { t: 'peer', key: '10.0.0.1|10.0.1.2', v: { ...peer(2), outSpi: 7 } }], empty)).toBe(true);
    s.closeJournal();

    const loaded = new StateStore(dir).load();
    expect(loaded?.peers.map((p) => [p.peer, p.outSpi])).toEqual([
      ['10.0.1.2', 7],
      ['10.0.1.3', 0x2003],
    ]);
    expect(loaded?.calls.map((c) => c.callId)).toEqual(['c3']);
    expect(loaded?.replayAfter).toEqual([r]);
  });

  it('appends a change instead of rewriting the snapshot, and compacts when the journal outgrows it', () => {
    const s = new StateStore(dir);
    s.save(empty());
    const snapshotMtime = statSync(join(dir, 'state.json')).mtimeMs;
    s.commit([{ t: 'call', v: call('c1', 1) }], empty);
    expect(statSync(join(dir, 'state.json')).mtimeMs).toBe(snapshotMtime);
    expect(readFileSync(join(dir, 'state.journal'), 'utf8').trim().split('\n')).toHaveLength(2);
    // Past 64 KiB of journal, the next commit writes the whole state as a new snapshot.
    const big = { ...empty(), calls: [call('kept', 1)] };
    for (let i = 0; i < 700; i++) s.commit([{ t: 'call', v: call(`c${i}-${'x'.repeat(60)}`, 1) }], () => big);
    const journal = readFileSync(join(dir, 'state.journal'), 'utf8').trim().split('\n');
    expect(journal.length).toBeLessThan(700);
    expect(JSON.parse(journal[0]!).generation).toBe(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).generation);
    s.closeJournal();
    expect(new StateStore(dir).load()?.calls[0]?.callId).toBe('kept');
  });

  it('writes both files 0600', () => {
    const s = new StateStore(dir);
    s.save(empty());
    s.closeJournal();
    expect(statSync(join(dir, 'state.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state.journal')).mode & 0o777).toBe(0o600);
  });

  it('ignores a torn last line (an append that never finished, whose request was never answered)', () => {
    const s = new StateStore(dir);
    s.save(empty());
    s.commit([{ t: 'call', v: call('c1', 1) }], empty);
    s.closeJournal();
    appendFileSync(join(dir, 'state.journal'), '{"t":"call","v":{"callId":"c2"');
    const l = new StateStore(dir);
    expect(l.load()?.calls.map((c) => c.callId)).toEqual(['c1']);
    expect(l.lastError).toBeUndefined();
  });

  it('calls the state unreadable when a complete journal line is not a record', () => {
    const s = new StateStore(dir);
    s.save(empty());
    s.closeJournal();
    appendFileSync(join(dir, 'state.journal'), '{"t":"call","v":{}}\n');
    const l = new StateStore(dir);
    expect(l.load()).toBeUndefined();
    expect(l.lastError).toMatch(/state journal .* line 2 is unreadable/);
  });

  it('never applies a journal of another generation (a crash between a snapshot and its new journal)', () => {
    const s = new StateStore(dir);
    s.save(empty());
    s.commit([{ t: 'call', v: call('old', 1) }], empty);
    s.closeJournal();
    const oldJournal = readFileSync(join(dir, 'state.journal'));
    s.save({ ...empty(), calls: [call('new', 2)] });
    s.closeJournal();
    writeFileSync(join(dir, 'state.journal'), oldJournal);
    expect(new StateStore(dir).load()?.calls.map((c) => c.callId)).toEqual(['new']);
  });
});

describe('ReplayCache: journal of commits', () => {
  it('reports each commit and, restored with them, refuses their replay', () => {
    const commits: ReplayRecord[] = [];
    const now = 1_800_000_000_000;
    const cache = new ReplayCache({ now: () => now, onCommit: (r) => commits.push(r) });
    const snapshot = cache.serialize();
    const entry = { initiatorId: 'sip:alice@example.org', csbId: 7, tsType: TsType.NTP_UTC, tsValue: msToNtp(now) };
    cache.commit(entry);
    cache.commit({ initiatorId: 'sip:carol@example.org', csbId: 1, tsType: TsType.COUNTER, tsValue: new Uint8Array([0, 0, 0, 5]) });
    expect(commits).toHaveLength(2);
    const restored = ReplayCache.restore(snapshot, { now: () => now }, commits);
    expect(() => restored.check(entry)).toThrow(/replay/);
    expect(() => restored.check({ initiatorId: 'sip:carol@example.org', csbId: 1, tsType: TsType.COUNTER, tsValue: new Uint8Array([0, 0, 0, 5]) })).toThrow(/COUNTER/);
  });
});
