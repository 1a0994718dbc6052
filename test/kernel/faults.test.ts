// Faults on the lab kernel (issue 8): sipsecd killed with -9 under 100 open
// calls to 20 peers and restarted; a conflicting policy owned by another
// program; a full disk under the state directory.  (A peer that vanishes
// without BYE is reclaimed by the hard lifetime: lifecycle.test.ts, "soft then
// hard expiry without rekey"; a crypto module the kernel cannot load:
// missing-algorithm.test.ts.)
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SipsecClientError, type SipsecClient } from '../../src/client/client.js';
import { ALICE, BOB, startPair, type Pair } from './helpers/sipsecd.js';

// Four addresses on a, six on b: 4 x 5 = 20 peer pairs for the calls, b's sixth for the conflict.
const AS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];
const BS = ['10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.14', '10.0.0.15'];
const B_CONFLICT = '10.0.0.16';

let p: Pair;
const tail = (log: string) => log.split('\n').slice(-15).join('\n');
/** `ip xfrm policy` entries, sorted, without per-socket policies (a daemon's own sockets, e.g. the NAT-T port). */
const policies = (text: string) =>
  text
    .split(/\n(?=\S)/)
    .filter((b) => b.trim() && !/\bsocket (in|out)\b/.test(b))
    .sort();
const spis = (text: string) => [...text.matchAll(/proto esp spi (0x[0-9a-f]+)/g)].map((m) => m[1]!).sort();

describe('sipsecd faults in the lab', () => {
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    p = await startPair({ prefix: 'flt-', a: AS.map((x) => `${x}/24`), b: [...BS, B_CONFLICT].map((x) => `${x}/24`) });
  }, 180_000);

  afterAll(async () => p?.destroy());

  it('keeps every SA of 100 open calls to 20 peers across kill -9 and restart, and leaves nothing stale after release and linger', async () => {
    const calls = Array.from({ length: 100 }, (_, i) => ({ id: `kc-${i}`, a: AS[i % 4]!, b: BS[Math.floor(i / 4) % 5]! }));
    // One lane per peer pair (its five calls in order; a new call to the same peer replaces the pair), five lanes at a time.
    const byPeer = new Map<string, typeof calls>();
    for (const c of calls) byPeer.set(`${c.a}|${c.b}`, [...(byPeer.get(`${c.a}|${c.b}`) ?? []), c]);
    const lanes = [...byPeer.values()];
    const clients: SipsecClient[] = [];
    for (let i = 0; i < lanes.length; i += 5) {
      await Promise.all(
        lanes.slice(i, i + 5).map(async (lane) => {
          const ca = await p.client('a');
          const cb = await p.client('b');
          clients.push(ca, cb);
          for (const c of lane) await p.rekey(ca, cb, c.id, c.a, c.b);
        }),
      );
    }
    const ca = await p.client('a');
    const peersBefore = (await ca.peers()).peers;
    expect(peersBefore).toHaveLength(20);
    expect(peersBefore.flatMap((x) => x.calls)).toHaveLength(100);
    ca.close();
    for (const c of clients) c.close();
    const stateBefore = await p.xfrm('a', 'state');
    const policyBefore = policies(await p.xfrm('a', 'policy'));

    p.kill('a');
    await new Promise((r) => setTimeout(r, 300));
    await p.start('a');

    // Every SA of every live pair is still in the kernel, with the same policies.  (SAs on their way
    // out, such as replaced outbound SAs, are not in the saved state: the restart may delete them.)
    const after = spis(await p.xfrm('a', 'state'));
    const live = peersBefore.flatMap((x) => [x.inSpi, x.outSpi]).map((n) => '0x' + n.toString(16).padStart(8, '0'));
    const restored = JSON.stringify(p.logRecords('a', 'state restored').at(-1) ?? 'no "state restored" line');
    for (const spi of live) expect(after, `${spi} missing after restart; ${restored}`).toContain(spi);
    expect(after.length, restored).toBeLessThanOrEqual(spis(stateBefore).length);
    // The same policies (selector and direction), and every outbound one sends on its peer's live SA.
    const policyAfter = policies(await p.xfrm('a', 'policy'));
    const head = (b: string) => b.split('\n')[0]!.trim();
    expect(policyAfter.map(head).sort()).toEqual(policyBefore.map(head).sort());
    const liveOut = new Set(peersBefore.map((x) => '0x' + x.outSpi.toString(16).padStart(8, '0')));
    for (const b of policyAfter.filter((x) => / dir out /.test(x))) {
      expect(liveOut.has(/spi (0x[0-9a-f]+)/.exec(b)?.[1] ?? ''), `${b}\nbefore: ${policyBefore.find((x) => head(x) === head(b))}`).toBe(true);
    }
    const ca2 = await p.client('a');
    const peersAfter = (await ca2.peers()).peers;
    expect(peersAfter.map((x) => [x.key, x.inSpi, x.outSpi]).sort()).toEqual(peersBefore.map((x) => [x.key, x.inSpi, x.outSpi]).sort());
    expect((await ca2.calls()).calls).toHaveLength(100);
    for (const c of calls) {
      const sas = (await ca2.sas(c.id)).sas;
      expect(sas.map((s) => s.direction).sort()).toEqual(['in', 'out']);
    }
    // ESP still flows on every address pair.
    for (const key of byPeer.keys()) {
      const [src, dst] = key.split('|') as [string, string];
      expect((await p.t.exec('a', ['ping', '-c', '1', '-W', '2', '-I', src, dst])).code).toBe(0);
    }
    // Release everything on both sides: after the linger (2 s) nothing of ours remains, retiring SAs included.
    const cb2 = await p.client('b');
    for (const c of calls) {
      await ca2.release(c.id);
      await cb2.release(c.id);
    }
    await new Promise((r) => setTimeout(r, 3500));
    expect(await p.xfrm('a', 'state')).toBe('');
    expect(policies(await p.xfrm('a', 'policy'))).toEqual([]);
    expect(await p.xfrm('b', 'state')).toBe('');
    expect(policies(await p.xfrm('b', 'policy'))).toEqual([]);
    ca2.close();
    cb2.close();
  }, 600_000);

  it('refuses cleanly when another program owns a policy with the same selector: typed error, their policy untouched, nothing half-installed', async () => {
    const A = AS[0]!;
    // Someone else's inbound policy on b for exactly the selector sipsecd will want (A -> B_CONFLICT, any proto).
    const add = await p.t.exec('b', ['ip', 'xfrm', 'policy', 'add', 'src', `${A}/32`, 'dst', `${B_CONFLICT}/32`, 'dir', 'in', 'priority', '77', 'action', 'allow']);
    expect(add.code).toBe(0);
    const theirs = await p.xfrm('b', 'policy');
    const ca = await p.client('a');
    const cb = await p.client('b');
    const offer = await ca.offer({ callId: 'conflict', localUri: ALICE, peerUri: BOB, localAddress: A });
    const err = await cb
      .answer({ callId: 'conflict', localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: A, localAddress: B_CONFLICT })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SipsecClientError);
    expect((err as SipsecClientError).code, tail(p.log('b'))).toBe('kernel');
    expect((err as SipsecClientError).sipStatus).toBe(500);
    expect((err as SipsecClientError).message).toContain('EEXIST');
    // Their policy is exactly as it was; no SA and no policy of ours for that address pair.
    expect(await p.xfrm('b', 'policy')).toBe(theirs);
    expect(await p.xfrm('b', 'state')).not.toContain(B_CONFLICT);
    expect((await cb.peers()).peers.filter((x) => x.local === B_CONFLICT)).toEqual([]);
    expect((await cb.calls()).calls.map((c) => c.callId)).not.toContain('conflict');
    // The daemon serves on: the caller gives up (release frees its reserved SPI).
    await ca.release('conflict');
    expect(await p.xfrm('a', 'state')).not.toMatch(new RegExp(`src 0\\.0\\.0\\.0 dst ${A.replace(/\./g, '\\.')}`));
    await p.t.exec('b', ['ip', 'xfrm', 'policy', 'delete', 'src', `${A}/32`, 'dst', `${B_CONFLICT}/32`, 'dir', 'in']);
    ca.close();
    cb.close();
  }, 60_000);

  it('keeps serving on a full disk: status reports the state error, and clears it once a save succeeds', async () => {
    // Restart a with its state directory (snapshot and journal) on a 1 MiB tmpfs that is full.  Not
    // smaller: once space is back, the snapshot is written beside the old one before the rename, and
    // after the 100 calls above (replay cache, peers) each can take tens of KiB.
    const stateDir = join(p.dir, 'a', 'state');
    const keep = mkdtempSync('/tmp/sipsec-state-');
    const files = existsSync(stateDir) ? readdirSync(stateDir) : [];
    for (const f of files) copyFileSync(join(stateDir, f), join(keep, f));
    p.kill('a');
    await new Promise((r) => setTimeout(r, 300));
    mkdirSync(stateDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', stateDir]);
    try {
      for (const f of files) copyFileSync(join(keep, f), join(stateDir, f));
      // Fill the file system: the daemon's first snapshot at start already fails.
      const filler = join(stateDir, 'filler');
      try {
        writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024));
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
      await p.start('a');
      const { ca, cb } = await p.call('disk-1', AS[0], BS[0]);
      // The call was set up (SAs installed) although its state could not be saved.
      expect((await ca.sas('disk-1')).sas).toHaveLength(2);
      const st = await ca.status();
      expect(st.stateError).toMatch(/ENOSPC/);
      expect((await ca.calls()).calls.map((c) => c.callId)).toContain('disk-1');
      expect(p.logRecords('a', 'cannot save state; serving on').map((r) => r.error)).toContainEqual(expect.stringMatching(/ENOSPC/));
      // Space again: the next change saves and the error is gone.
      execFileSync('rm', ['-f', filler]);
      await ca.release('disk-1');
      await cb.release('disk-1');
      expect((await ca.status()).stateError).toBeUndefined();
      ca.close();
      cb.close();
    } finally {
      p.kill('a');
      await new Promise((r) => setTimeout(r, 300));
      execFileSync('umount', [stateDir]);
    }
  }, 120_000);
});
