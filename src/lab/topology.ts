/**
 * Declarative network topologies for the lab: one network namespace per
 * simulated host (SPIs are unique per destination address, so two hosts must
 * never share a namespace), joined by veth pairs or a bridge.  Used inside the
 * lab only (as root); every namespace and bridge made here is removed by
 * `destroy()`.
 *
 *   const t = await createTopology({
 *     hosts: [{ name: 'a', addrs: ['10.0.0.1/24', 'fd00::1/64'] },
 *             { name: 'b', addrs: ['10.0.0.2/24', 'fd00::2/64'] }],
 *     links: [{ type: 'veth', a: 'a', b: 'b' }],
 *   });
 *   await t.exec('a', ['ping', '-c1', '10.0.0.2']);
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface HostSpec {
  name: string;
  /** CIDR addresses put on the host's first link interface (eth0). */
  addrs?: string[];
  /** IPv4/IPv6 forwarding (routers, NAT boxes). */
  forward?: boolean;
  /** Default routes, e.g. ['10.0.1.1', 'fd01::1']. */
  routes?: string[];
}

export interface LinkEnd {
  host: string;
  /** Addresses for this end when it is not the host's first interface. */
  addrs?: string[];
}

export type LinkSpec =
  | { type: 'veth'; a: string | LinkEnd; b: string | LinkEnd }
  | { type: 'bridge'; name: string; hosts: string[] };

export interface TopologySpec {
  hosts: HostSpec[];
  links: LinkSpec[];
}

export interface User {
  uid: number;
  gid: number;
  groups?: number[];
}

export interface ExecOptions {
  user?: User;
  env?: Record<string, string>;
  input?: string | Uint8Array;
  timeoutMs?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class TopologyError extends Error {
  override readonly name = 'TopologyError';
}

const NAME = /^[a-z][a-z0-9-]{0,11}$/;
/**
 * Temporary veth names, unique in this process across topologies: a deleted
 * namespace takes its veth pairs (and the bridge ends in the root namespace)
 * away asynchronously, so the next topology must not reuse their names.
 */
let vethSeq = 0;

function run(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new TopologyError(`cannot run ${argv[0]}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // A command that exits without reading its input must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

async function must(argv: string[]): Promise<void> {
  const r = await run(argv);
  if (r.code !== 0) throw new TopologyError(`${argv.join(' ')} failed: ${r.stderr.trim()}`);
}

function asUser(user: User | undefined, argv: string[]): string[] {
  if (!user) return argv;
  const groups = user.groups?.length ? ['--groups', user.groups.join(',')] : ['--clear-groups'];
  return ['setpriv', '--reuid', String(user.uid), '--regid', String(user.gid), ...groups, '--', ...argv];
}

function end(e: string | LinkEnd): LinkEnd {
  return typeof e === 'string' ? { host: e } : e;
}

export class Topology {
  private readonly ifCount = new Map<string, number>();
  private readonly bridges: string[] = [];

  private constructor(
    readonly spec: TopologySpec,
    private readonly prefix: string,
  ) {}

  /** Build the namespaces, links and addresses of `spec`. */
  static async create(spec: TopologySpec, prefix = ''): Promise<Topology> {
    const t = new Topology(spec, prefix);
    try {
      await t.build();
    } catch (e) {
      await t.destroy();
      throw e;
    }
    return t;
  }

  /** The kernel name of a host's namespace. */
  ns(host: string): string {
    if (!this.spec.hosts.some((h) => h.name === host)) throw new TopologyError(`no host "${host}" in this topology`);
    return this.prefix + host;
  }

  /** Path of a host's namespace, for setns(2). */
  nsPath(host: string): string {
    return `/run/netns/${this.ns(host)}`;
  }

  /** Run a command in a host's namespace, optionally as another user. */
  exec(host: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return run(['ip', 'netns', 'exec', this.ns(host), ...asUser(opts.user, argv)], opts);
  }

  /** Start a long-running command in a host's namespace. */
  spawn(host: string, argv: string[], opts: Omit<ExecOptions, 'input' | 'timeoutMs'> = {}): ChildProcess {
    const full = ['ip', 'netns', 'exec', this.ns(host), ...asUser(opts.user, argv)];
    return spawn(full[0]!, full.slice(1), { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  async destroy(): Promise<void> {
    for (const h of this.spec.hosts) await run(['ip', 'netns', 'del', this.prefix + h.name]);
    for (const b of this.bridges) await run(['ip', 'link', 'del', b]);
  }

  private nextIf(host: string): string {
    const n = this.ifCount.get(host) ?? 0;
    this.ifCount.set(host, n + 1);
    return `eth${n}`;
  }

  private async addAddrs(host: string, ifname: string, addrs: string[]): Promise<void> {
    for (const a of addrs) {
      const v6 = a.includes(':');
      await must(['ip', '-n', this.ns(host), ...(v6 ? ['-6'] : []), 'addr', 'add', a, 'dev', ifname, ...(v6 ? ['nodad'] : [])]);
    }
  }

  /** Move one end of a veth pair into a host and configure it. */
  private async plug(tmpName: string, e: LinkEnd): Promise<void> {
    const ifname = this.nextIf(e.host);
    const host = this.spec.hosts.find((h) => h.name === e.host)!;
    const addrs = e.addrs ?? (ifname === 'eth0' ? host.addrs ?? [] : []);
    await must(['ip', 'link', 'set', tmpName, 'netns', this.ns(e.host), 'name', ifname]);
    await this.addAddrs(e.host, ifname, addrs);
    await must(['ip', '-n', this.ns(e.host), 'link', 'set', ifname, 'up']);
  }

  private async build(): Promise<void> {
    for (const h of this.spec.hosts) {
      if (!NAME.test(h.name)) throw new TopologyError(`bad host name "${h.name}"`);
      await must(['ip', 'netns', 'add', this.ns(h.name)]);
      await must(['ip', '-n', this.ns(h.name), 'link', 'set', 'lo', 'up']);
      // Let unprivileged users (our UAs) ping, as on a desktop distribution.
      await must(['ip', 'netns', 'exec', this.ns(h.name), 'sysctl', '-qw', 'net.ipv4.ping_group_range=0 2147483647']);
      if (h.forward) {
        await must(['ip', 'netns', 'exec', this.ns(h.name), 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
      }
    }
    for (const l of this.spec.links) {
      if (l.type === 'veth') {
        const a = end(l.a);
        const b = end(l.b);
        const n = vethSeq++;
        const ta = `sv${process.pid % 10000}x${n}`;
        const tb = `sv${process.pid % 10000}y${n}`;
        await must(['ip', 'link', 'add', ta, 'type', 'veth', 'peer', 'name', tb]);
        await this.plug(ta, a);
        await this.plug(tb, b);
      } else {
        const br = this.prefix + l.name;
        await must(['ip', 'link', 'add', br, 'type', 'bridge']);
        this.bridges.push(br);
        await must(['ip', 'link', 'set', br, 'up']);
        for (const host of l.hosts) {
          const n = vethSeq++;
          const ta = `sv${process.pid % 10000}b${n}`;
          const tb = `sv${process.pid % 10000}c${n}`;
          await must(['ip', 'link', 'add', ta, 'type', 'veth', 'peer', 'name', tb]);
          await must(['ip', 'link', 'set', tb, 'master', br, 'up']);
          await this.plug(ta, { host });
        }
      }
    }
    for (const h of this.spec.hosts) {
      for (const gw of h.routes ?? []) {
        await must(['ip', '-n', this.ns(h.name), ...(gw.includes(':') ? ['-6'] : []), 'route', 'add', 'default', 'via', gw]);
      }
    }
  }
}

export function createTopology(spec: TopologySpec, prefix = ''): Promise<Topology> {
  return Topology.create(spec, prefix);
}
