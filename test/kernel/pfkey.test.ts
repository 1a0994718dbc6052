// The PF_KEY v2 backend on a kernel with af_key (the lab): the shared kernel
// suite (backend-suite.ts) with the suites PF_KEY can install, interop with
// an XFRM-installed peer, refusals, and install latency next to XFRM.
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelValidationError } from '../../src/kernel/errors.js';
import { PFKEY_SUITES, pfkeyReqid } from '../../src/kernel/pfkey/messages.js';
import { openPfkeyBackend } from '../../src/kernel/pfkey/backend.js';
import { openXfrmBackend } from '../../src/kernel/xfrm/backend.js';
import type { Topology } from '../../src/lab/topology.js';
import type { KernelIpsec, SaSpec } from '../../src/kernel/types.js';
import { A4, B4, installPair, kernelBackendSuite, keysFor, REQID, twoHosts } from './backend-suite.js';

kernelBackendSuite({
  name: 'PF_KEY',
  open: (netns) => openPfkeyBackend({ netns }),
  suites: PFKEY_SUITES.map((s) => s.name),
  primary: 'aes-cbc-128-hmac-sha1',
  allocSuite: '3des-cbc-hmac-sha1',
  cbcSuite: 'aes-cbc-128-hmac-sha1',
  keysSuite: 'aes-cbc-128-hmac-sha1',
  kernelReqid: pfkeyReqid(REQID),
  ipXfrmAlgs: [/auth-trunc hmac\(sha1\) 0x[0-9a-f]{40} 96/, /enc cbc\(aes\) 0x[0-9a-f]{32}/],
  pinsSpi: false,
  addOp: 'SADB_ADD',
});

describe('PF_KEY next to XFRM in the lab', () => {
  let t: Topology;
  let pa: KernelIpsec;
  let xb: KernelIpsec;
  let xa: KernelIpsec;

  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE, 'kernel tests run only inside the lab (npm run lab -- test)').toBe('1');
    t = await twoHosts('kpx-');
    pa = openPfkeyBackend({ netns: t.nsPath('a') });
    xa = openXfrmBackend({ netns: t.nsPath('a') });
    xb = openXfrmBackend({ netns: t.nsPath('b') });
  });

  afterAll(async () => {
    await pa?.flushOwned();
    await xa?.flushOwned();
    await xb?.flushOwned();
    await pa?.close();
    await xa?.close();
    await xb?.close();
    await t?.destroy();
  });

  for (const suite of PFKEY_SUITES.map((s) => s.name)) {
    it(`${suite}: an SA pair installed by PF_KEY talks to its peer installed by XFRM`, async () => {
      const { spiAB, spiBA } = await installPair(pa, xb, { suite, a: A4, b: B4 });
      const r = await t.exec('a', ['ping', '-c2', '-i0.2', '-W2', B4]);
      expect(r.stdout + r.stderr).toMatch(/2 received/);
      expect((await xb.getSa({ dst: B4, spi: spiAB, proto: 'esp' })).counters.packets).toBeGreaterThanOrEqual(2n);
      expect((await pa.getSa({ dst: A4, spi: spiBA, proto: 'esp' })).counters.packets).toBeGreaterThanOrEqual(2n);
      expect(await pa.flushOwned()).toEqual({ sas: 2, policies: 2 });
      expect(await xb.flushOwned()).toEqual({ sas: 2, policies: 2 });
    }, 120_000);
  }

  it('refuses AES-GCM, RFC 4868 hmac(sha256), marks and big replay windows before any syscall', async () => {
    const base: SaSpec = { src: A4, dst: B4, spi: 0x9191, proto: 'esp', mode: 'transport', reqid: REQID, suite: 'aes-gcm-128', keys: keysFor('aes-gcm-128') };
    await expect(pa.addSa(base)).rejects.toBeInstanceOf(KernelValidationError);
    await expect(pa.addSa(base)).rejects.toThrow(/aes-gcm-128 is AEAD/);
    await expect(pa.addSa({ ...base, suite: 'aes-cbc-128-hmac-sha256', keys: keysFor('aes-cbc-128-hmac-sha256') })).rejects.toThrow(/96-bit ICV/);
    const sha1: SaSpec = { ...base, suite: 'aes-cbc-128-hmac-sha1', keys: keysFor('aes-cbc-128-hmac-sha1') };
    await expect(pa.addSa({ ...sha1, replayWindow: 64 })).rejects.toMatchObject({ field: 'replayWindow' });
    await expect(pa.addSa({ ...sha1, mark: { value: 1, mask: 0xff } })).rejects.toMatchObject({ field: 'mark' });
    expect((await t.exec('a', ['ip', 'xfrm', 'state'])).stdout).toBe('');
  });

  it('measures per-SA install latency: PF_KEY SADB_ADD vs XFRM NEWSA', async () => {
    const N = 200;
    const spec = (spi: number): SaSpec => ({ src: A4, dst: B4, spi, proto: 'esp', mode: 'transport', reqid: REQID, suite: 'aes-cbc-128-hmac-sha1', keys: keysFor('aes-cbc-128-hmac-sha1') });
    const time = async (k: KernelIpsec, base: number): Promise<number[]> => {
      const us: number[] = [];
      for (let i = 0; i < N; i++) {
        const s = spec(base + i);
        const t0 = process.hrtime.bigint();
        await k.addSa(s);
        us.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      return us.sort((x, y) => x - y);
    };
    // Interleave two rounds so neither backend only sees a warm or a cold kernel.
    const pf1 = await time(pa, 0x20000);
    const xf1 = await time(xa, 0x40000);
    const pf2 = await time(pa, 0x30000);
    const xf2 = await time(xa, 0x50000);
    const pf = [...pf1, ...pf2].sort((x, y) => x - y);
    const xf = [...xf1, ...xf2].sort((x, y) => x - y);
    const q = (a: number[], p: number): number => Math.round(a[Math.min(a.length - 1, Math.floor(a.length * p))]!);
    const result = { n: pf.length, pfkeyAdd: { p50: q(pf, 0.5), p90: q(pf, 0.9) }, xfrmNewsa: { p50: q(xf, 0.5), p90: q(xf, 0.9) }, unit: 'µs' };
    console.log(`install latency ${JSON.stringify(result)}`);
    writeFileSync('/tmp/sipsec-pfkey-bench.json', JSON.stringify(result) + '\n');
    expect(await pa.flushOwned()).toEqual({ sas: 2 * N, policies: 0 });
    expect(await xa.flushOwned()).toEqual({ sas: 2 * N, policies: 0 });
    expect((await t.exec('a', ['ip', 'xfrm', 'state'])).stdout).toBe('');
  }, 300_000);
});
