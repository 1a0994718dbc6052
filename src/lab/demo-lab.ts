/**
 * The SIP lab shared by the end-to-end demo (demo-inside.ts), the SIP
 * lab tests (test/kernel/sip*.test.ts) and the call-setup benchmark
 * (src/bench/call-setup.ts): inside the lab, as root,
 *
 *   alice 10.0.0.1 ─┐
 *   bob   10.0.0.2 ─┼─ bridge
 *   proxy 10.0.0.3 ─┘  kamailio (config/kamailio) as registrar + proxy for example.org
 *
 * `family` picks the hosts' addresses: 'ipv4' (above, the default), 'ipv6'
 * (fd00::1, ::2, ::3 only: no IPv4 address on any interface, not even lo) or
 * 'dual' (both; SIP, media and the SAs then use the IPv6 ones).
 * sipsecd on alice and bob (PSK peers, or DH-HMAC, or DH with certificates;
 * linger 32 s = 64*T1), reference UAs run as
 * uid 65534 (`sipsec ua`), their JSON-lines events collected.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SipsecClient } from '../client/client.js';
import { sipsecdCommand } from './sipsecd-command.js';
import { createTopology, type Topology } from './topology.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const ADDR = { alice: '10.0.0.1', bob: '10.0.0.2', proxy: '10.0.0.3' } as const;
export const ADDR6 = { alice: 'fd00::1', bob: 'fd00::2', proxy: 'fd00::3' } as const;
export type LabFamily = 'ipv4' | 'ipv6' | 'dual';
type LabHost = keyof typeof ADDR;
export const URI = { alice: 'sip:alice@example.org', bob: 'sip:bob@example.org' } as const;
/** sipsecd's linger: until the SIP transaction timers (64*T1 = 32 s) have run out. */
export const LINGER_SECONDS = 32;
/** A caller whose PSK bob's daemon does not share (see daemonConfig). */
export const CAROL = 'sip:carol@example.org';
export const PASSWORD = { alice: 'alice-lab-secret', bob: 'bob-lab-secret' } as const;
export const UA_USER = { uid: 65534, gid: 65534 };
export type UaHost = 'alice' | 'bob';
/** The MIKEY mode alice and bob key their calls with (default psk); dh needs certificates (PEM). */
export type LabMikey =
  | { readonly mode: 'psk' | 'dhhmac' }
  | { readonly mode: 'dh'; readonly pem: { readonly ca: string } & Record<UaHost, { readonly cert: string; readonly key: string }> };

export interface UaEventLine {
  readonly t: number;
  readonly event: string;
  readonly callId?: string;
  readonly [k: string]: unknown;
}

export interface UaRun {
  readonly child: ChildProcess;
  readonly events: UaEventLine[];
  /** stderr so far. */
  stderr(): string;
  /** Resolves with the first event named `name` (matching `pred`); rejects after `timeoutMs`. */
  waitFor(name: string, timeoutMs?: number, pred?: (e: UaEventLine) => boolean): Promise<UaEventLine>;
  readonly exit: Promise<number>;
}

export interface SipLab {
  readonly t: Topology;
  readonly dir: string;
  /** The address each host's SIP, media and SAs use (IPv6 unless family is 'ipv4'). */
  readonly addr: Readonly<Record<LabHost, string>>;
  /** Write the UA config of `host` (overrides as YAML lines) and return its path. */
  uaConfig(host: UaHost, extra?: Record<string, string>): string;
  /** Start `sipsec ua --config <cfg> ...args` on `host` as uid 65534. */
  ua(host: UaHost, config: string, args: string[]): UaRun;
  xfrm(host: UaHost, what: 'state' | 'policy'): Promise<string>;
  /** Wait until neither alice nor bob has an SA left (the linger ran out). */
  waitNoSas(timeoutMs: number): Promise<boolean>;
  client(host: UaHost): Promise<SipsecClient>;
  stop(): Promise<void>;
}

/**
 * alice's daemon also holds the identity CAROL; bob's has a peer entry for
 * CAROL with another PSK, so an offer made as carol fails bob's MAC check
 * (the 488 + MIKEY error case).
 */
function daemonConfig(dir: string, host: UaHost, mikey: LabMikey, family: LabFamily, moveTo: readonly string[]): string {
  const peer: UaHost = host === 'alice' ? 'bob' : 'alice';
  const addrs = (h: UaHost): string => [...labAddrs(family, h), ...(h === 'alice' ? moveTo : [])].map((a) => `"${a}"`).join(', ');
  const file = join(dir, `${host}-sipsecd.yaml`);
  const psk = (name: string) => `{ file: ${join(dir, name)}, format: hex }`;
  let credentials = `psk: ${psk('psk')}`;
  if (mikey.mode === 'dh') {
    const pem = (name: string, text: string) => (writeFileSync(join(dir, name), text, { mode: 0o600 }), join(dir, name));
    credentials = `certificate: ${pem(`${host}.crt`, mikey.pem[host].cert)}
    privateKey: ${pem(`${host}.key`, mikey.pem[host].key)}
    trustAnchors: [${pem('ca.crt', mikey.pem.ca)}]`;
  }
  writeFileSync(
    file,
    `identities:
  - uri: ${URI[host]}
    addresses: [${addrs(host)}]
${host === 'alice' ? `  - uri: ${CAROL}\n    addresses: [${addrs('alice')}]\n` : ''}peers:
  - match: ${URI[peer]}
    mode: ${mikey.mode}
    ${credentials}
${host === 'bob' ? `  - match: ${CAROL}\n    mode: psk\n    psk: ${psk('psk-carol')}\n` : ''}algorithms: { suites: [aes-gcm-128], minimum: aes-cbc-128-hmac-sha1 }
linger: ${LINGER_SECONDS}
access: { users: [${UA_USER.uid}] }
socket: { path: ${join(dir, host, 'sipsecd.sock')}, mode: "0666" }
stateDir: ${join(dir, host, 'state')}
`,
    { mode: 0o600 },
  );
  return file;
}

async function waitFor(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A host's addresses in the lab for `family`, the IPv6 one first when it has one. */
function labAddrs(family: LabFamily, h: LabHost): string[] {
  return family === 'ipv4' ? [ADDR[h]] : family === 'ipv6' ? [ADDR6[h]] : [ADDR6[h], ADDR[h]];
}

const cidr = (a: string): string => `${a}/${a.includes(':') ? 64 : 24}`;
const sipHostPort = (a: string, port: number): string => `${a.includes(':') ? `[${a}]` : a}:${port}`;

export interface SipLabOptions {
  auth?: boolean;
  prefix?: string;
  mikey?: LabMikey;
  family?: LabFamily;
  /** Addresses alice may move to mid-call (her sipsecd identity's other addresses). */
  aliceMovesTo?: readonly string[];
}

export async function startSipLab(opts: SipLabOptions = {}): Promise<SipLab> {
  const family = opts.family ?? 'ipv4';
  const hosts = ['alice', 'bob', 'proxy'] as const;
  const t = await createTopology(
    {
      hosts: hosts.map((name) => ({ name, addrs: labAddrs(family, name).map(cidr) })),
      links: [{ type: 'bridge', name: 'br', hosts: [...hosts] }],
    },
    opts.prefix ?? 'sip-',
  );
  const addr = { alice: labAddrs(family, 'alice')[0]!, bob: labAddrs(family, 'bob')[0]!, proxy: labAddrs(family, 'proxy')[0]! };
  const dir = mkdtempSync('/tmp/siplab-');
  chmodSync(dir, 0o755);
  const procs: ChildProcess[] = [];
  try {
    // IPv6 only: not even loopback keeps an IPv4 address.
    if (family === 'ipv6') for (const h of hosts) await t.exec(h, ['ip', 'addr', 'del', '127.0.0.1/8', 'dev', 'lo']);
    writeFileSync(join(dir, 'psk'), '00112233445566778899aabbccddeeff00112233\n', { mode: 0o600 });
    writeFileSync(join(dir, 'psk-carol'), 'ffeeddccbbaa99887766554433221100ffeeddcc\n', { mode: 0o600 });
    for (const h of ['alice', 'bob'] as const) {
      mkdirSync(join(dir, h), { mode: 0o755 });
      chmodSync(join(dir, h), 0o755);
      const cmd = sipsecdCommand(['--config', daemonConfig(dir, h, opts.mikey ?? { mode: 'psk' }, family, opts.aliceMovesTo ?? [])]);
      const d = t.spawn(h, cmd.argv, { env: cmd.env });
      procs.push(d);
      const sock = join(dir, h, 'sipsecd.sock');
      await waitFor(async () => {
        if (!existsSync(sock)) return false;
        const c = await SipsecClient.connect(sock).catch(() => undefined);
        if (!c) return false;
        await c.close();
        return true;
      }, `sipsecd on ${h}`, 90_000);
    }
    mkdirSync(join(dir, 'kamailio'));
    const kam = t.spawn('proxy', [
      'kamailio', '-f', join(ROOT, 'config/kamailio/kamailio.cfg'), '-DD', '-E',
      ...(opts.auth === false ? [] : ['-A', 'WITH_AUTH']),
      ...labAddrs(family, 'proxy').flatMap((a) => ['-l', `udp:${sipHostPort(a, 5060)}`, '-l', `tcp:${sipHostPort(a, 5060)}`]),
      '-Y', join(dir, 'kamailio'), '-m', '32', '-M', '8',
    ]);
    let kamLog = '';
    kam.stderr?.on('data', (c: Buffer) => (kamLog += c.toString()));
    procs.push(kam);
    await waitFor(async () => (await t.exec('proxy', ['ss', '-ltnu'])).stdout.includes(sipHostPort(addr.proxy, 5060)), `kamailio (${kamLog.slice(-500)})`);
  } catch (e) {
    for (const p of procs) p.kill('SIGKILL');
    await t.destroy();
    throw e;
  }

  const lab: SipLab = {
    t,
    dir,
    addr,
    uaConfig(host, extra = {}) {
      const file = join(dir, `${host}-ua-${Object.keys(extra).length}-${Math.random().toString(36).slice(2, 8)}.yaml`);
      const base: Record<string, string> = {
        uri: URI[host],
        address: addr[host],
        port: '5060',
        proxy: JSON.stringify(sipHostPort(addr.proxy, 5060)),
        auth: `{ username: ${host}, password: ${PASSWORD[host]} }`,
        socket: join(dir, host, 'sipsecd.sock'),
        media: `{ port: ${host === 'alice' ? 40000 : 40002}, rate: 50 }`,
      };
      const all = { ...base, ...extra };
      writeFileSync(file, Object.entries(all).map(([k, v]) => `${k}: ${v}\n`).join(''), { mode: 0o644 });
      chmodSync(file, 0o644);
      return file;
    },
    ua(host, config, args) {
      const child = t.spawn(host, [process.execPath, join(ROOT, 'bin/sipsec.js'), 'ua', '--config', config, ...args], { user: UA_USER });
      return watchUa(child);
    },
    async xfrm(host, what) {
      return (await t.exec(host, ['ip', '-s', 'xfrm', what])).stdout;
    },
    async waitNoSas(timeoutMs) {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        if ((await lab.xfrm('alice', 'state')) === '' && (await lab.xfrm('bob', 'state')) === '') return true;
        await new Promise((r) => setTimeout(r, 1000));
      }
      return false;
    },
    client: (host) => SipsecClient.connect(join(dir, host, 'sipsecd.sock')),
    async stop() {
      // SIGTERM first and wait: kamailio's main process then stops its workers (a SIGKILLed main
      // leaves them running, holding the namespace and its veths).
      const exited = (p: ChildProcess) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(undefined) : p.once('exit', r)));
      for (const p of procs) p.kill('SIGTERM');
      await Promise.race([Promise.all(procs.map(exited)), new Promise((r) => setTimeout(r, 5000))]);
      for (const p of procs) p.kill('SIGKILL');
      await t.destroy();
    },
  };
  return lab;
}

/** Follow a UA process: parse its JSON-lines events as they come. */
export function watchUa(child: ChildProcess): UaRun {
  const events: UaEventLine[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        events.push(JSON.parse(line) as UaEventLine);
      } catch {
        err += `${line}\n`;
      }
      for (const w of waiters.splice(0)) w();
    }
  });
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number>((r) => child.on('exit', (code) => r(code ?? 128)));
  return {
    child,
    events,
    stderr: () => err,
    exit,
    waitFor(name, timeoutMs = 20_000, pred = () => true) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${name}" event within ${timeoutMs} ms; events: ${events.map((e) => e.event).join(',')}; stderr: ${err.slice(-800)}`)), timeoutMs);
        const check = (): void => {
          const e = events.find((x) => x.event === name && pred(x));
          if (e) {
            clearTimeout(timer);
            resolve(e);
          } else waiters.push(check);
        };
        check();
        void exit.then(() => setTimeout(() => waiters.splice(0).forEach((w) => w()), 0));
      });
    },
  };
}


