/**
 * State that survives a daemon restart: which calls are open, which peer SAs
 * they use, and the MIKEY replay cache.  Never keys: the SAs themselves stay
 * in the kernel across a restart, and this file only says whose they are.
 *
 * Written atomically (temp file, fsync, rename) with mode 0600 in the state
 * directory.  A failed save (full disk, read-only file system) does not stop
 * the daemon: `lastError` says so, `status` reports it, and the next change
 * tries again.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
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
    z.object({ callId: z.string(), owner: z.number().int(), peerKey: z.string(), since: z.number(), localUri: z.string(), peerUri: z.string() }),
  ),
  replay: z.unknown().optional(),
});

export type PersistedState = z.infer<typeof StateSchema>;

export class StateStore {
  private readonly file: string;
  lastError: string | undefined;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'state.json');
  }

  /** The saved state, or undefined if there is none or it is unreadable (reported in `lastError`). */
  load(): PersistedState | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const parsed = StateSchema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
      this.lastError = `state file ${this.file} is invalid: ${parsed.error.issues[0]?.message ?? 'schema'}`;
    } catch {
      this.lastError = `state file ${this.file} is not JSON`;
    }
    return undefined;
  }

  /** Save; never throws.  Returns false (and sets `lastError`) when the disk refused. */
  save(state: PersistedState): boolean {
    const tmp = `${this.file}.${process.pid}.tmp`;
    let fd: number | undefined;
    try {
      fd = openSync(tmp, 'w', 0o600);
      writeSync(fd, JSON.stringify(state));
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, this.file);
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
}
