// Lab helpers: a two-host topology with one real sipsecd process per host,
// configs generated per test file, and the UA side of a call driven through
// the client library.  Used by the daemon and lifecycle kernel suites.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SipsecClient } from '../../../src/client/client.js';
import { sipsecdCommand } from '../../../src/lab/sipsecd-command.js';
import { createTopology, type HostSpec, type Topology, type TopologySpec } from '../../../src/lab/topology.js';

export const ROOT = resolve(import.meta.dirname, '..', '..', '..');
export const ALICE = 'sip:alice@example.org';
export const BOB = 'sip:bob@example.org';
/** The pre-shared key both lab daemons use (hex), e.g. for a third party answering in-process. */
export const LAB_PSK_HEX = '00112233445566778899aabbccddeeff00112233';

export interface HostSide {
  host: 'a' | 'b';
  uri: string;
  addrs: string[];
}

export interface Pair {
  t: Topology;
  dir: string;
  a: HostSide;
  b: HostSide;
  start(host: 'a' | 'b'): Promise<void>;
  kill(host: 'a' | 'b'): void;
  /** Everything a host's daemons wrote to stderr (their JSON log lines), across restarts. */
  log(host: 'a' | 'b'): string;
  /** The host's log records (JSON lines) whose msg is `msg`, parsed. */
  logRecords(host: 'a' | 'b', msg: string): Record<string, unknown>[];
  client(host: 'a' | 'b'): Promise<SipsecClient>;
  sock(host: 'a' | 'b'): string;
  xfrm(host: 'a' | 'b', what: 'state' | 'policy'): Promise<string>;
  /** One call from alice (a) to bob (b) over the given addresses, as a UA pair drives it. */
  call(callId: string, aAddr?: string, bAddr?: string): Promise<{ ca: SipsecClient; cb: SipsecClient }>;
  /** A re-INVITE of an established call: a new exchange on the same call id. */
  rekey(ca: SipsecClient, cb: SipsecClient, callId: string, aAddr?: string, bAddr?: string): Promise<void>;
  destroy(): Promise<void>;
}

export interface PairOptions {
  prefix: string;
  a: string[];
  b: string[];
  /** Extra YAML lines appended to both configs (lifetimes, linger, ...). */
  extra?: string;
  /** Addresses each identity may use (default: the host's addresses). */
  identityAddrs?: { a: string[]; b: string[] };
  /** A topology with more hosts (routers, NAT) instead of a and b on one veth; its hosts a and b run the daemons. */
  topology?: TopologySpec;
  /** The peer entry's `match` (default: the other host's URI), e.g. '*@example.org'. */
  peerMatch?: string;
  /** socket.maxConnections of both daemons (default: the daemon's, 64). */
  maxConnections?: number;
  /** Extra sipsecd arguments, e.g. ['--log-level', 'debug']. */
  daemonArgs?: string[];
  /** The `algorithms` line of both configs (default: aes-gcm-128 offered, aes-cbc-128-hmac-sha1 the minimum). */
  algorithms?: { suites: string[]; minimum: string };
}

export async function startPair(o: PairOptions): Promise<Pair> {
  const hosts: HostSpec[] = [
    { name: 'a', addrs: o.a },
    { name: 'b', addrs: o.b },
  ];
  const t = await createTopology(o.topology ?? { hosts, links: [{ type: 'veth', a: 'a', b: 'b' }] }, o.prefix);
  const dir = mkdtempSync('/tmp/sipsecd-');
  const bare = (cidrs: string[]) => cidrs.map((c) => c.split('/')[0]!);
  const a: HostSide = { host: 'a', uri: ALICE, addrs: o.identityAddrs?.a ?? bare(o.a) };
  const b: HostSide = { host: 'b', uri: BOB, addrs: o.identityAddrs?.b ?? bare(o.b) };
  writeFileSync(join(dir, 'psk'), `${LAB_PSK_HEX}\n`, { mode: 0o600 });
  for (const [me, peer] of [
    [a, b],
    [b, a],
  ] as const) {
    mkdirSync(join(dir, me.host), { recursive: true });
    writeFileSync(
      join(dir, `${me.host}.yaml`),
      `identities:
  - uri: ${me.uri}
    addresses: [${me.addrs.map((x) => `"${x}"`).join(', ')}]
peers:
  - match: "${o.peerMatch ?? peer.uri}"
    mode: psk
    psk: { file: ${join(dir, 'psk')}, format: hex }
algorithms: { suites: [${(o.algorithms?.suites ?? ['aes-gcm-128']).join(', ')}], minimum: ${o.algorithms?.minimum ?? 'aes-cbc-128-hmac-sha1'} }
access: { users: [65534] }
socket: { path: ${join(dir, me.host, 'sipsecd.sock')}, mode: "0660"${o.maxConnections ? `, maxConnections: ${o.maxConnections}` : ''} }
stateDir: ${join(dir, me.host, 'state')}
${o.extra ?? 'linger: 2'}
`,
      { mode: 0o600 },
    );
  }
  const daemons = new Map<string, ChildProcess>();
  const logs = { a: '', b: '' };
  const sock = (h: 'a' | 'b') => join(dir, h, 'sipsecd.sock');
  const client = (h: 'a' | 'b') => SipsecClient.connect(sock(h));
  const pair: Pair = {
    t,
    dir,
    a,
    b,
    sock,
    client,
    async start(h) {
      const cmd = sipsecdCommand(['--config', join(dir, `${h}.yaml`), ...(o.daemonArgs ?? [])]);
      const child = t.spawn(h, cmd.argv, { env: cmd.env });
      let err = '';
      child.stderr?.on('data', (c: Buffer) => {
        err += c.toString();
        logs[h] += c.toString();
      });
      daemons.set(h, child);
      // The socket file may be a stale one of a killed daemon: wait until it answers
      // (node starts slowly in UML, slower still on a loaded machine, and a kernel that must
      // fail to load a module for the start-up SA takes longer still).
      for (let i = 0; i < 2400; i++) {
        const c = existsSync(sock(h)) ? await SipsecClient.connect(sock(h)).catch(() => undefined) : undefined;
        if (c) {
          await c.ping();
          c.close();
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`sipsecd on ${h} did not start: ${err}`);
    },
    kill(h) {
      daemons.get(h)?.kill('SIGKILL');
    },
    log: (h) => logs[h],
    logRecords: (h, msg) =>
      logs[h]
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((r) => r.msg === msg),
    async xfrm(h, what) {
      const out = (await t.exec(h, ['ip', 'xfrm', what])).stdout;
      // The SPD only: sipsecd's ESP-in-UDP socket holds per-socket bypass policies ("socket in/out"), listed too.
      return what === 'policy' ? out.split(/(?=^src )/m).filter((b) => !/^\tsocket (in|out) /m.test(b)).join('') : out;
    },
    async call(callId, aAddr = a.addrs[0]!, bAddr = b.addrs[0]!) {
      const ca = await client('a');
      const cb = await client('b');
      await pair.rekey(ca, cb, callId, aAddr, bAddr);
      return { ca, cb };
    },
    async rekey(ca, cb, callId, aAddr = a.addrs[0]!, bAddr = b.addrs[0]!) {
      const offer = await ca.offer({ callId, localUri: ALICE, peerUri: BOB, localAddress: aAddr });
      const answer = await cb.answer({ callId, localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: aAddr, localAddress: bAddr });
      await ca.confirm({ callId, mikey: answer.mikey, peerAddress: bAddr });
    },
    async destroy() {
      for (const d of daemons.values()) d.kill('SIGKILL');
      await t.destroy();
    },
  };
  await pair.start('a');
  await pair.start('b');
  return pair;
}
