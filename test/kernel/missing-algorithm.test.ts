// A kernel without one of a suite's algorithms (issue 8, faults): the crypto
// module behind cbc(des3_ede) (des_generic) is unloaded and put on the lab's
// modprobe deny list, so to the kernel it is not installed.  Both backends
// must refuse an SA of the 3DES suite with a KernelAlgorithmError naming the
// suite and the algorithm, leave nothing installed, and work again once the
// module may load.  sipsecd must refuse such an offer with a typed error (488,
// naming the suite, with a MIKEY Err 10 message for the caller), log it, keep
// serving, and leave no half pair on either side.  The deny list and unloading make this independent of what earlier
// test files of the same boot loaded.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SipsecClientError } from '../../src/client/client.js';
import { KernelAlgorithmError } from '../../src/kernel/errors.js';
import { openPfkeyBackend } from '../../src/kernel/pfkey/backend.js';
import type { KernelIpsec, SaSpec } from '../../src/kernel/types.js';
import { openXfrmBackend } from '../../src/kernel/xfrm/backend.js';
import type { Topology } from '../../src/lab/topology.js';
import { A4, B4, keysFor, REQID, twoHosts } from './backend-suite.js';
import { withModuleDenied } from './helpers/modules.js';
import { ALICE, BOB, startPair, type Pair } from './helpers/sipsecd.js';

const SUITE = '3des-cbc-hmac-sha1';
const MODULE = 'des_generic';

const sa = (spi: number, src = A4, dst = B4): SaSpec => ({ src, dst, spi, proto: 'esp', mode: 'transport', reqid: REQID, suite: SUITE, keys: keysFor(SUITE) });

function expectAlgorithmError(e: unknown, op: string): void {
  expect(e).toBeInstanceOf(KernelAlgorithmError);
  const k = e as KernelAlgorithmError;
  expect(k.suite).toBe(SUITE);
  expect(k.algorithms).toEqual(['cbc(des3_ede)', 'hmac(sha1)']);
  expect(k.op).toBe(op);
  // ENOSYS: the XFRM algorithm table found no usable cbc(des3_ede); ENOENT: it had
  // one from earlier in this boot but the crypto API cannot build it any more.
  expect(['ENOSYS', 'ENOENT']).toContain(k.code);
  expect(k.message).toContain(`kernel cannot do ${SUITE} (cbc(des3_ede), hmac(sha1)): ${op} failed with ${k.code}`);
}

describe('a crypto module the lab kernel cannot load', () => {
  let t: Topology;
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    t = await twoHosts('nomod-');
  }, 120_000);
  afterAll(async () => t?.destroy());

  for (const [name, open, addOp, updOp] of [
    ['XFRM', (ns: string) => openXfrmBackend({ netns: ns }), 'NEWSA', 'UPDSA'],
    ['PF_KEY', (ns: string) => openPfkeyBackend({ netns: ns }), 'SADB_ADD', 'SADB_UPDATE'],
  ] as const) {
    it(`${name}: add, update and installPair of ${SUITE} name the suite and algorithm, install nothing, and work once ${MODULE} may load`, async () => {
      const k: KernelIpsec = open(t.nsPath('b'));
      try {
        await withModuleDenied(MODULE, async () => {
          expect(existsSync(`/sys/module/${MODULE}`)).toBe(false);
          expectAlgorithmError(await k.addSa(sa(0x5101)).catch((e: unknown) => e), addOp);
          // The callee's path: the inbound SA completes an allocated SPI.
          const spi = await k.allocSpi({ src: A4, dst: B4, proto: 'esp' });
          expectAlgorithmError(await k.updateSa(sa(spi)).catch((e: unknown) => e), updOp);
          // installPair completing the allocated SPI leaves not even the reservation behind.
          expectAlgorithmError(await k.installPair(sa(0x5102, B4, A4), sa(spi), { inViaUpdate: true }).catch((e: unknown) => e), updOp);
          expectAlgorithmError(await k.installPair(sa(0x5102, B4, A4), sa(0x5103)).catch((e: unknown) => e), addOp);
          expect(await k.listSas()).toEqual([]);
        });
        // Not the SA's fault: with the module allowed again (loaded on demand) the same SA installs.
        await k.addSa(sa(0x5101));
        expect(existsSync(`/sys/module/${MODULE}`)).toBe(true);
        expect((await k.getSa({ dst: B4, spi: 0x5101, proto: 'esp' })).suite).toBe(SUITE);
      } finally {
        await k.flushOwned();
        await k.close();
      }
      // Each refused SA costs the kernel a round of failed module requests (one usermode modprobe each)
      // and crypto larval waits: over a minute in UML on a loaded host; loads and self-tests too.
    }, 900_000);
  }
});

describe('sipsecd when the kernel cannot do the negotiated suite', () => {
  let p: Pair;
  beforeAll(async () => {
    p = await startPair({ prefix: 'nomodd-', a: ['10.0.0.1/24'], b: ['10.0.0.2/24'], algorithms: { suites: [SUITE], minimum: SUITE } });
  }, 600_000);
  afterAll(async () => p?.destroy());

  it('refuses the offer with a typed 488 naming the suite, logs it, installs nothing on either side, and serves on', async () => {
    const ca = await p.client('a');
    let cb = await p.client('b');
    try {
      await withModuleDenied(MODULE, async () => {
        // A daemon starting on such a kernel says so, naming the suite (its warm-up SA), and starts.
        p.kill('b');
        await p.start('b');
        const warn = p.log('b').split('\n').filter((l) => l.includes('cannot install an SA of a configured suite')).at(-1);
        expect(warn, p.log('b')).toBeDefined();
        expect(JSON.parse(warn!)).toMatchObject({ level: 'warn', suite: SUITE, error: { name: 'KernelAlgorithmError' } });
        expect(warn).toContain(`kernel cannot do ${SUITE} (cbc(des3_ede), hmac(sha1))`);
        cb.close();
        cb = await p.client('b');
        const offer = await ca.offer({ callId: 'nomod', localUri: ALICE, peerUri: BOB });
        // The refused NEWSA blocks for as long as the kernel's failed module requests take (see above).
        const err = await cb
          .request('answer', { callId: 'nomod', localUri: BOB, peerUri: ALICE, mikey: offer.mikey, peerAddress: '10.0.0.1', localAddress: '10.0.0.2' }, { timeoutMs: 300_000 })
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SipsecClientError);
        const e = err as SipsecClientError;
        expect(e.code, p.log('b')).toBe('unsupported-suite');
        expect(e.sipStatus).toBe(488);
        expect(e.extra.suite).toBe(SUITE);
        expect(e.extra.algorithms).toEqual(['cbc(des3_ede)', 'hmac(sha1)']);
        expect(e.message).toContain(`kernel cannot do ${SUITE} (cbc(des3_ede), hmac(sha1))`);
        expect(e.extra.warning).toBe(`399 sipsec "this host's kernel cannot do ${SUITE}"`);
        // ... and a MIKEY error message for the 488: Err 10, SP parameter not supported.
        expect(e.extra.mikeyErr).toBe(10);
        expect(e.mikey).toBeDefined();
        // Logged as a typed error, without key material (the message has names only).
        const line = p.log('b').split('\n').find((l) => l.includes('"sas not installed"'));
        expect(line, p.log('b')).toBeDefined();
        expect(JSON.parse(line!)).toMatchObject({ level: 'error', callId: 'nomod', code: 'unsupported-suite' });
        // Nothing of the call on b; a keeps only its reserved SPI until the refusal reaches it.
        expect(await p.xfrm('b', 'state')).toBe('');
        expect(await p.xfrm('b', 'policy')).toBe('');
        expect((await cb.calls()).calls).toEqual([]);
        // The caller's daemon reads the refusal (as its UA passes on the 488's MIKEY body) and ends the call.
        const refused = await ca.confirm({ callId: 'nomod', mikey: e.mikey!, peerAddress: '10.0.0.2' }).catch((x: unknown) => x);
        expect(refused).toBeInstanceOf(SipsecClientError);
        expect((refused as SipsecClientError).code).toBe('mikey-rejected');
        expect((refused as SipsecClientError).extra.mikeyErr).toBe(10);
        expect((await ca.calls()).calls).toEqual([]);
        expect(await p.xfrm('a', 'state')).toBe('');
        expect(await p.xfrm('a', 'policy')).toBe('');
      });
      // Both daemons serve on: the same call sets up once the module may load.
      await p.rekey(ca, cb, 'nomod');
      expect((await cb.peers()).peers.map((x) => x.suite)).toEqual([SUITE]);
      await ca.release('nomod');
      await cb.release('nomod');
    } finally {
      ca.close();
      cb.close();
    }
  }, 900_000);
});
