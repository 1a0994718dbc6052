/**
 * State that survives a daemon restart: which calls are open, which peer SAs
 * they use, and the MIKEY replay cache.  Never keys: the SAs themselves stay
 * in the kernel across a restart, and these files only say whose they are.
 *
 * Two files, both mode 0600 in the state directory:
 *  - `state.json`, a snapshot, written atomically (temp file, fsync, rename);
 *  - `state.journal`, the changes since that snapshot, one JSON record a line,
 *    appended and fdatasync'ed before the request that made them is answered.
 * A change costs one small append, whatever the number of peers; when the
 * journal has grown past the snapshot's size (at least 64 KiB) the next commit
 * writes a new snapshot and starts an empty journal.  Both carry a generation
 * number, so a journal left over from an older snapshot (a crash between the
 * two writes) is never applied to a newer one.  A torn last line (a crash in
 * the middle of an append, whose request was never answered) is ignored; any
 * other unreadable line makes the whole state unreadable (`lastError`), and
 * the daemon then starts with a cold replay cache.
 *
 * A failed write (full disk, read-only file system) does not stop the daemon:
 * `lastError` says so, `status` reports it, and the next commit writes a whole
 * snapshot, so nothing the failed append held is lost once the disk is back.
 */
import { closeSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ReplayRecord } from '../mikey/replay.js';
import { peerKey } from './registry.js';
import { z } from 'zod';

const SelectorSchema = z.object({
  src: z.string(),
  dst: z.string(),
  proto: z.union([z.enum(['any', 'icmp', 'tcp', 'udp', 'icmpv6']), z.number().int()]).optional(),
  srcPort: z.number().optional(),
  dstPort: z.number().optional(),
});

export const StateSchema = z.object({
  version: z.literal(1),
  savedAt: z.number(),
  peers: z.array(
    z.object({
      local: z.string(),
      peer: z.string(),
      reqid: z.number().int(),
      inSpi: z.number().int(),
      outSpi: z.number().int(),
      suite: z.string(),
      mode: z.enum(['transport', 'tunnel']),
      selectors: z.array(SelectorSchema),
      installedAt: z.number(),
      retiring: z.array(z.number().int()).default([]),
    }),
  ),
  calls: z.array(
    z.object({
      callId: z.string(),
      owner: z.number().int(),
      peerKey: z.string(),
      since: z.number(),
      localUri: z.string(),
      peerUri: z.string(),
      selectors: z.array(SelectorSchema).optional(),
    }),
  ),
  replay: z.unknown().optional(),
});

export type PersistedState = z.infer<typeof StateSchema>;
export type PeerRecord = PersistedState['peers'][number];
export type CallRecord = PersistedState['calls'][number];

/** One journal line: a peer's or a call's record as it now is, its removal, or a replay-cache commit. */
export type StateRecord =
  | { t: 'peer'; key: string; v: PeerRecord }
  | { t: 'peer-'; key: string }
  | { t: 'call'; v: CallRecord }
  | { t: 'call-'; callId: string }
  | { t: 'replay'; v: ReplayRecord };

const RecordSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('peer'), key: z.string(), v: StateSchema.shape.peers.element }),
  z.object({ t: z.literal('peer-'), key: z.string() }),
  z.object({ t: z.literal('call'), v: StateSchema.shape.calls.element }),
  z.object({ t: z.literal('call-'), callId: z.string() }),
  z.object({ t: z.literal('replay'), v: z.union([z.object({ key: z.string(), expiry: z.number() }), z.object({ initiatorId: z.string(), counter: z.number() })]) }),
]);
const HeaderSchema = z.object({ generation: z.number().int() });

/** The saved state, with the replay commits made since its snapshot (for `ReplayCache.restore`). */
export type LoadedState = PersistedState & { replayAfter: ReplayRecord[] };

/** `state.json`: the snapshot and the generation its journal must carry. */
type Snapshot = PersistedState & { generation?: number };

const MIN_COMPACT_BYTES = 64 * 1024;

export class StateStore {
  private readonly file: string;
  private readonly journalFile: string;
  lastError: string | undefined;
  private generation = 0;
  /** Open journal of this generation; undefined until the first snapshot, or after a failed write. */
  private journal: number | undefined;
  private journalBytes = 0;
  private snapshotBytes = 0;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'state.json');
    this.journalFile = join(dir, 'state.journal');
  }

  /** The saved state, or undefined if there is none or it is unreadable (reported in `lastError`). */
  load(): LoadedState | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return undefined;
    }
    let snap: Snapshot;
    try {
      const parsed = StateSchema.extend({ generation: z.number().int().optional() }).safeParse(JSON.parse(text));
      if (!parsed.success) {
        this.lastError = `state file ${this.file} is invalid: ${parsed.error.issues[0]?.message ?? 'schema'}`;
        return undefined;
      }
      snap = parsed.data;
    } catch {
      this.lastError = `state file ${this.file} is not JSON`;
      return undefined;
    }
    this.generation = snap.generation ?? 0;
    const records = this.readJournal();
    if (!records) return undefined;
    const peers = new Map(snap.peers.map((p) => [peerKey(p.local, p.peer), p]));
    const calls = new Map(snap.calls.map((c) => [c.callId, c]));
    const replayAfter: ReplayRecord[] = [];
    for (const r of records) {
      if (r.t === 'peer') peers.set(r.key, r.v);
      else if (r.t === 'peer-') peers.delete(r.key);
      else if (r.t === 'call') calls.set(r.v.callId, r.v);
      else if (r.t === 'call-') calls.delete(r.callId);
      else replayAfter.push(r.v);
    }
    return { version: 1, savedAt: snap.savedAt, peers: [...peers.values()], calls: [...calls.values()], replay: snap.replay, replayAfter };
  }

  /** The journal's records of the snapshot's generation; undefined (and `lastError`) when it is unreadable. */
  private readJournal(): StateRecord[] | undefined {
    let text: string;
    try {
      text = readFileSync(this.journalFile, 'utf8');
    } catch {
      return [];
    }
    const lines = text.split('\n');
    // The last element is '' after a complete line, or the torn rest of an append that never finished.
    lines.pop();
    const header = HeaderSchema.safeParse(parseLine(lines[0]));
    if (!header.success || header.data.generation !== this.generation) return [];
    const out: StateRecord[] = [];
    for (let i = 1; i < lines.length; i++) {
      const r = RecordSchema.safeParse(parseLine(lines[i]));
      if (!r.success) {
        this.lastError = `state journal ${this.journalFile} line ${i + 1} is unreadable`;
        return undefined;
      }
      out.push(r.data as StateRecord);
    }
    return out;
  }

  /**
   * Make `records` durable before the caller answers: append them to the
   * journal, or write `full()` as a new snapshot when the journal is due for
   * compaction, none is open yet, or the last write failed.  Never throws;
   * returns false (and sets `lastError`) when the disk refused.
   */
  commit(records: readonly StateRecord[], full: () => PersistedState): boolean {
    if (this.journal === undefined || this.journalBytes > Math.max(MIN_COMPACT_BYTES, this.snapshotBytes)) return this.save(full());
    if (records.length === 0) return true;
    const text = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    try {
      writeSync(this.journal, text);
      fdatasyncSync(this.journal);
      this.journalBytes += Buffer.byteLength(text);
      this.lastError = undefined;
      return true;
    } catch (e) {
      this.closeJournal();
      this.lastError = `cannot save state to ${this.journalFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
      return false;
    }
  }

  /** Write `state` as the snapshot of a new generation and start its empty journal.  Never throws. */
  save(state: PersistedState): boolean {
    const generation = this.generation + 1;
    const tmp = `${this.file}.${process.pid}.tmp`;
    let fd: number | undefined;
    this.closeJournal();
    try {
      const text = JSON.stringify({ ...state, generation });
      fd = openSync(tmp, 'w', 0o600);
      writeSync(fd, text);
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, this.file);
      this.generation = generation;
      this.snapshotBytes = Buffer.byteLength(text);
      fd = openSync(this.journalFile, 'w', 0o600);
      const header = JSON.stringify({ generation }) + '\n';
      writeSync(fd, header);
      fdatasyncSync(fd);
      this.journal = fd;
      fd = undefined;
      this.journalBytes = Buffer.byteLength(header);
      this.lastError = undefined;
      return true;
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      try {
        unlinkSync(tmp);
      } catch {
        /* nothing to clean */
      }
      this.lastError = `cannot save state to ${this.file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
      return false;
    }
  }

  /** Close the journal (daemon shutdown; also after a failed write, so the next commit snapshots). */
  closeJournal(): void {
    if (this.journal !== undefined) closeSync(this.journal);
    this.journal = undefined;
  }
}

function parseLine(line: string | undefined): unknown {
  if (line === undefined) return undefined;
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
