// The kernel test suite every KernelIpsec backend must pass on a kernel with
// ESP (the lab): two namespaces a/b joined by veth, SA pairs and policies
// installed through the backend, real traffic.  xfrm.test.ts and
// pfkey.test.ts run it with their backend's parameters.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTopology, type Topology } from '../../src/lab/topology.js';
import { suiteByName, type SuiteName } from '../../src/kernel/algorithms.js';
import { KernelError } from '../../src/kernel/errors.js';
import { ownedReqid, type IpsecMode, type KernelEvent, type KernelIpsec, type PeerInstall, type PolicySpec, type SaKeys, type SaSpec } from '../../src/kernel/types.js';

export const A4 = '10.0.0.1';
export const B4 = '10.0.0.2';
export const A6 = 'fd00::1';
export const B6 = 'fd00::2';
export const REQID = ownedReqid(7);

/** What differs between backends; everything else is asserted identically. */
export interface BackendUnderTest {
  name: string;
  open(netns: string): KernelIpsec;
  /** Suites the backend installs (each gets the traffic and wrong-key tests). */
  suites: readonly SuiteName[];
  /** The default suite of most tests. */
  primary: SuiteName;
  /** Completes an allocated SPI. */
  allocSuite: SuiteName;
  /** Checked with ip xfrm (ipXfrmAlgs), and the tunnel-mode test. */
  cbcSuite: SuiteName;
  /** Read back with keys. */
  keysSuite: SuiteName;
  /** The reqid `ip xfrm` shows for REQID. */
  kernelReqid: number;
  /** `ip xfrm state` algorithm lines of a cbcSuite SA. */
  ipXfrmAlgs: RegExp[];
  /** Whether OUT templates carry the pinned SPI. */
  pinsSpi: boolean;
  /** KernelError.op of a refused add. */
  addOp: string;
}

export function keysFor(suite: SuiteName): SaKeys {
  const s = suiteByName(suite);
  return s.authKeyBytes ? { encKey: randomBytes(s.encKeyBytes), authKey: randomBytes(s.authKeyBytes) } : { encKey: randomBytes(s.encKeyBytes) };
}

export interface PairOpts {
  suite: SuiteName;
  a: string;
  b: string;
  mode?: IpsecMode;
  /** Give b a different inbound key than a uses outbound. */
  corruptBInbound?: boolean;
}

let nextSpi = 0x1000;

/** SA a->b (spiAB) and b->a (spiBA) plus in/out policies on both sides. */
export async function installPair(ka: KernelIpsec, kb: KernelIpsec, o: PairOpts): Promise<{ spiAB: number; spiBA: number }> {
  const mode = o.mode ?? 'transport';
  const spiAB = nextSpi++;
  const spiBA = nextSpi++;
  const kAB = keysFor(o.suite);
  const kBA = keysFor(o.suite);
  const sa = (src: string, dst: string, spi: number, keys: SaKeys): SaSpec => ({ src, dst, spi, proto: 'esp', mode, reqid: REQID, suite: o.suite, keys });
  await ka.installPair(sa(o.a, o.b, spiAB, kAB), sa(o.b, o.a, spiBA, kBA));
  await kb.installPair(sa(o.b, o.a, spiBA, kBA), sa(o.a, o.b, spiAB, o.corruptBInbound ? keysFor(o.suite) : kAB));
  const tmpl = (src: string, dst: string, spi?: number) => ({ proto: 'esp' as const, mode, ...(mode === 'tunnel' ? { src, dst } : {}), ...(spi ? { spi } : {}) });
  for (const [k, self, peer, outSpi] of [
    [ka, o.a, o.b, spiAB],
    [kb, o.b, o.a, spiBA],
  ] as const) {
    await k.addPolicy({ selector: { src: self, dst: peer }, dir: 'out', action: 'allow', reqid: REQID, template: tmpl(self, peer, outSpi) });
    await k.addPolicy({ selector: { src: peer, dst: self }, dir: 'in', action: 'allow', reqid: REQID, template: tmpl(peer, self) });
  }
  return { spiAB, spiBA };
}

/** Two namespaces a and b joined by veth (IPv4 and IPv6). */
export function twoHosts(prefix: string): Promise<Topology> {
  return createTopology(
    {
      hosts: [
        { name: 'a', addrs: [`${A4}/24`, `${A6}/64`] },
        { name: 'b', addrs: [`${B4}/24`, `${B6}/64`] },
      ],
      links: [{ type: 'veth', a: 'a', b: 'b' }],
    },
    prefix,
  );
}

export function kernelBackendSuite(bt: BackendUnderTest): void {
describe(`${bt.name} backend in the lab`, () => {
  let t: Topology;
  let ka: KernelIpsec;
  let kb: KernelIpsec;

  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE, 'kernel tests run only inside the lab (npm run lab -- test)').toBe('1');
    t = await twoHosts(`k${bt.name.slice(0, 1).toLowerCase()}-`);
    ka = bt.open(t.nsPath('a'));
    kb = bt.open(t.nsPath('b'));
  }, 300_000); // namespaces and veth in UML: slow on a loaded host (nothing here is timed)
  afterEach(async () => {
    await ka.flushOwned();
    await kb.flushOwned();
  });

  afterAll(async () => {
    await ka?.close();
    await kb?.close();
    await t?.destroy();
  });

  const ping = (host: string, dst: string) => t.exec(host, ['ping', '-c2', '-i0.2', '-W2', dst]);

  for (const suite of bt.suites) {
    it(`${suite}: ping and UDP pass through ESP and the counters move`, async () => {
      const { spiAB, spiBA } = await installPair(ka, kb, { suite, a: A4, b: B4 });
      const r = await ping('a', B4);
      expect(r.stdout + r.stderr).toMatch(/2 received/);
      const out = await ka.getSa({ dst: B4, spi: spiAB, proto: 'esp' });
      const inb = await kb.getSa({ dst: B4, spi: spiAB, proto: 'esp' });
      expect(out.suite).toBe(suite);
      expect(out.counters.packets).toBeGreaterThanOrEqual(2n);
      expect(inb.counters.packets).toBeGreaterThanOrEqual(2n);
      expect((await kb.getSa({ dst: A4, spi: spiBA, proto: 'esp' })).counters.packets).toBeGreaterThanOrEqual(2n);
      // UDP: a datagram a -> b must go through b's inbound SA.  --norc: node
      // hands children a Unix socketpair as stdin, so bash takes itself for an
      // rshd/sshd child and sources ~/.bashrc (this host's runs `pyenv init`:
      // dozens of processes, 40-110 s in UML, past exec's 60 s timeout).
      const before = inb.counters.packets;
      expect((await t.exec('a', ['bash', '--norc', '-c', `echo hello > /dev/udp/${B4}/9999`])).code).toBe(0);
      expect((await kb.getSa({ dst: B4, spi: spiAB, proto: 'esp' })).counters.packets).toBeGreaterThan(before);
    }, 120_000); // the first use of a cipher in UML runs the kernel's crypto self-tests: slow

    it(`${suite}: a wrong key on one side stops the traffic`, async () => {
      const { spiAB } = await installPair(ka, kb, { suite, a: A4, b: B4, corruptBInbound: true });
      const r = await ping('a', B4);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toMatch(/0 received/);
      const inb = await kb.getSa({ dst: B4, spi: spiAB, proto: 'esp' });
      expect(inb.counters.packets).toBe(0n);
    }, 120_000);
  }

  it('deleting leaves nothing of ours behind, and never touches others', async () => {
    expect((await t.exec('a', ['ip', 'xfrm', 'policy', 'add', 'src', '192.0.2.1', 'dst', '192.0.2.2', 'dir', 'out', 'priority', '7'])).code).toBe(0);
    await installPair(ka, kb, { suite: bt.primary, a: A4, b: B4 });
    expect((await ka.listSas()).filter((s) => s.owned)).toHaveLength(2);
    expect(await ka.flushOwned()).toEqual({ sas: 2, policies: 2 });
    expect((await t.exec('a', ['ip', 'xfrm', 'state'])).stdout).toBe('');
    const pol = (await t.exec('a', ['ip', 'xfrm', 'policy'])).stdout;
    expect(pol).toMatch(/src 192\.0\.2\.1\/32 dst 192\.0\.2\.2\/32/);
    expect(pol).not.toMatch(/10\.0\.0/);
    expect((await ka.listPolicies()).filter((p) => p.owned)).toEqual([]);
    expect((await t.exec('a', ['ip', 'xfrm', 'policy', 'flush'])).code).toBe(0);
  });

  it('deleteSa and deletePolicy remove exactly one entry each', async () => {
    const { spiAB } = await installPair(ka, kb, { suite: bt.cbcSuite, a: A4, b: B4 });
    await ka.deleteSa({ dst: B4, spi: spiAB, proto: 'esp' });
    await ka.deletePolicy({ src: A4, dst: B4 }, 'out');
    expect((await ka.listSas()).map((s) => s.id.spi)).not.toContain(spiAB);
    expect((await ka.listPolicies()).map((p) => p.dir)).toEqual(['in']);
    await expect(ka.deleteSa({ dst: B4, spi: spiAB, proto: 'esp' })).rejects.toMatchObject({ code: 'ESRCH' });
  });

  it('allocates distinct SPIs, and updateSa completes an allocated SPI', async () => {
    const spis = new Set<number>();
    for (let i = 0; i < 20; i++) spis.add(await kb.allocSpi({ src: A4, dst: B4, proto: 'esp', reqid: REQID }));
    expect(spis.size).toBe(20);
    for (const s of spis) expect(s).toBeGreaterThanOrEqual(0x100);
    const spi = [...spis][0]!;
    await kb.updateSa({ src: A4, dst: B4, spi, proto: 'esp', mode: 'transport', reqid: REQID, suite: bt.allocSuite, keys: keysFor(bt.allocSuite) });
    expect((await kb.getSa({ dst: B4, spi, proto: 'esp' })).suite).toBe(bt.allocSuite);
  });

  it('updateSa falls back to NEWSA when there is no placeholder (ESRCH)', async () => {
    await kb.updateSa({ src: A4, dst: B4, spi: 0x7777, proto: 'esp', mode: 'transport', reqid: REQID, suite: bt.primary, keys: keysFor(bt.primary) });
    expect((await kb.getSa({ dst: B4, spi: 0x7777, proto: 'esp' })).suite).toBe(bt.primary);
  });

  it('reports a soft expire after a 2 s soft lifetime', async () => {
    const events = ka.events();
    await ka.addSa({
      src: A4, dst: B4, spi: 0x4242, proto: 'esp', mode: 'transport', reqid: REQID, suite: bt.primary,
      keys: keysFor(bt.primary), lifetimes: { softSeconds: 2, hardSeconds: 60 },
    });
    const got = await Promise.race([
      (async () => {
        for (;;) {
          const e = (await events.next()).value as KernelEvent;
          if (e.type === 'expire' && e.sa.spi === 0x4242) return e;
        }
      })(),
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no expire event within 15 s')), 15_000)),
    ]);
    expect(got).toMatchObject({ type: 'expire', hard: false, reqid: REQID, owned: true, src: A4, sa: { dst: B4, spi: 0x4242 } });
    await events.return?.();
  }, 20_000);

  it('ip xfrm shows what we asked for', async () => {
    const { spiAB } = await installPair(ka, kb, { suite: bt.cbcSuite, a: A4, b: B4 });
    const st = (await t.exec('a', ['ip', 'xfrm', 'state', 'get', 'src', A4, 'dst', B4, 'proto', 'esp', 'spi', String(spiAB)])).stdout;
    expect(st).toMatch(new RegExp(`proto esp spi 0x0*${spiAB.toString(16)} reqid ${bt.kernelReqid} mode transport`));
    expect(st).toMatch(/replay-window 32/);
    for (const re of bt.ipXfrmAlgs) expect(st).toMatch(re);
    const pol = (await t.exec('a', ['ip', 'xfrm', 'policy', 'list', 'dir', 'out'])).stdout;
    expect(pol).toMatch(new RegExp(`src ${A4}/32 dst ${B4}/32`));
    const tmplSpi = bt.pinsSpi ? `spi 0x0*${spiAB.toString(16)} ` : '';
    expect(pol).toMatch(new RegExp(`tmpl src 0\\.0\\.0\\.0 dst 0\\.0\\.0\\.0\\s+proto esp ${tmplSpi}reqid ${bt.kernelReqid} mode transport`));
  });

  it('returns keys only on request', async () => {
    const keys = keysFor(bt.keysSuite);
    await ka.addSa({ src: A4, dst: B4, spi: 0x5151, proto: 'esp', mode: 'transport', reqid: REQID, suite: bt.keysSuite, keys });
    const plain = await ka.getSa({ dst: B4, spi: 0x5151, proto: 'esp' });
    expect(plain.keys).toBeUndefined();
    expect(JSON.stringify(await ka.listSas(), (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('"keys"');
    const withKeys = await ka.getSa({ dst: B4, spi: 0x5151, proto: 'esp' }, { withKeys: true });
    expect(Buffer.from(withKeys.keys!.encKey).equals(keys.encKey)).toBe(true);
    expect(Buffer.from(withKeys.keys!.authKey!).equals(keys.authKey!)).toBe(true);
  });

  it('a duplicate SA is a typed EEXIST', async () => {
    const spec: SaSpec = { src: A4, dst: B4, spi: 0x6161, proto: 'esp', mode: 'transport', reqid: REQID, suite: bt.primary, keys: keysFor(bt.primary) };
    await ka.addSa(spec);
    const err = await ka.addSa(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelError);
    expect(err).toMatchObject({ code: 'EEXIST', errno: 17, op: bt.addOp });
  });

  it('installPair rolls the inbound SA back when the outbound one fails', async () => {
    const inb: SaSpec = { src: B4, dst: A4, spi: 0x7171, proto: 'esp', mode: 'transport', reqid: REQID, suite: bt.primary, keys: keysFor(bt.primary) };
    const out: SaSpec = { ...inb, src: A4, dst: B4, spi: 0x7172, keys: keysFor(bt.primary) };
    await ka.addSa(out);
    await expect(ka.installPair(out, inb)).rejects.toMatchObject({ code: 'EEXIST' });
    expect((await ka.listSas()).map((s) => s.id.spi)).toEqual([0x7172]);
  });

  /** a's and b's sets for installPeer: SA a->b (spiAB), b->a (spiBA), out and in policies; b's inbound SPI comes from allocSpi. */
  async function peerSets(): Promise<{ a: PeerInstall; b: PeerInstall; spiAB: number; spiBA: number }> {
    const spiAB = await kb.allocSpi({ src: A4, dst: B4, proto: 'esp', reqid: REQID });
    const spiBA = nextSpi++;
    const kAB = keysFor(bt.primary);
    const kBA = keysFor(bt.primary);
    const sa = (src: string, dst: string, spi: number, keys: SaKeys): SaSpec => ({ src, dst, spi, proto: 'esp', mode: 'transport', reqid: REQID, suite: bt.primary, keys });
    const policies = (self: string, peer: string, outSpi: number): PolicySpec[] => [
      { selector: { src: self, dst: peer }, dir: 'out', action: 'allow', reqid: REQID, template: { proto: 'esp', mode: 'transport', spi: outSpi } },
      { selector: { src: peer, dst: self }, dir: 'in', action: 'allow', reqid: REQID, template: { proto: 'esp', mode: 'transport' } },
    ];
    return {
      a: { out: sa(A4, B4, spiAB, kAB), in: sa(B4, A4, spiBA, kBA), policies: policies(A4, B4, spiAB) },
      b: { out: sa(B4, A4, spiBA, kBA), in: sa(A4, B4, spiAB, kAB), inViaUpdate: true, policies: policies(B4, A4, spiBA) },
      spiAB,
      spiBA,
    };
  }

  it('installPeer installs both SAs and the policies in one go; ping passes through ESP', async () => {
    const { a, b, spiAB, spiBA } = await peerSets();
    await ka.installPeer(a);
    await kb.installPeer(b);
    for (const [host, out, inb] of [['a', spiAB, spiBA], ['b', spiBA, spiAB]] as const) {
      const st = (await t.exec(host, ['ip', 'xfrm', 'state'])).stdout;
      for (const spi of [out, inb]) expect(st).toMatch(new RegExp(`proto esp spi 0x0*${spi.toString(16)} reqid ${bt.kernelReqid} mode transport`));
      const pol = (await t.exec(host, ['ip', 'xfrm', 'policy'])).stdout;
      expect(pol).toMatch(/dir out/);
      expect(pol).toMatch(/dir in/);
    }
    const r = await ping('a', B4);
    expect(r.stdout + r.stderr).toMatch(/2 received/);
    expect((await kb.getSa({ dst: B4, spi: spiAB, proto: 'esp' })).counters.packets).toBeGreaterThanOrEqual(2n);
    expect((await ka.getSa({ dst: A4, spi: spiBA, proto: 'esp' })).counters.packets).toBeGreaterThanOrEqual(2n);
  });

  it('installPeer whose policy is refused leaves neither SA nor policy of ours, and theirs untouched', async () => {
    // Theirs: an IN policy with the selector ours will ask for (reqid 1: not ours).
    const theirs = ['ip', 'xfrm', 'policy', 'add', 'src', `${A4}/32`, 'dst', `${B4}/32`, 'dir', 'in', 'tmpl', 'proto', 'esp', 'mode', 'transport', 'reqid', '1'];
    expect((await t.exec('b', theirs)).code).toBe(0);
    const before = (await t.exec('b', ['ip', 'xfrm', 'policy'])).stdout;
    const { b, spiAB } = await peerSets();
    const err = await kb.installPeer(b).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KernelError);
    expect(err).toMatchObject({ code: 'EEXIST' });
    expect((await kb.listSas()).filter((s) => s.owned || s.id.spi === spiAB)).toEqual([]); // nor the reserved SPI
    expect((await kb.listPolicies()).filter((p) => p.owned)).toEqual([]);
    expect((await t.exec('b', ['ip', 'xfrm', 'policy'])).stdout).toBe(before);
    expect((await t.exec('b', ['ip', 'xfrm', 'state'])).stdout).toBe('');
    expect((await t.exec('b', ['ip', 'xfrm', 'policy', 'flush'])).code).toBe(0);
  });

  it('IPv6 transport pair passes ping', async () => {
    const { spiAB } = await installPair(ka, kb, { suite: bt.primary, a: A6, b: B6 });
    const r = await ping('a', B6);
    expect(r.stdout + r.stderr).toMatch(/2 received/);
    expect((await kb.getSa({ dst: B6, spi: spiAB, proto: 'esp' })).counters.packets).toBeGreaterThanOrEqual(2n);
  });

  it('tunnel-mode pair passes ping', async () => {
    const { spiAB } = await installPair(ka, kb, { suite: bt.cbcSuite, a: A4, b: B4, mode: 'tunnel' });
    const r = await ping('a', B4);
    expect(r.stdout + r.stderr).toMatch(/2 received/);
    const sa = await kb.getSa({ dst: B4, spi: spiAB, proto: 'esp' });
    expect(sa.mode).toBe('tunnel');
    expect(sa.counters.packets).toBeGreaterThanOrEqual(2n);
  });
});
}
