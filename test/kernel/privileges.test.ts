// sipsecd's privilege drop (src/agent/privileges.ts) on the lab kernel: a node
// process started as root drops to nobody keeping only CAP_NET_ADMIN.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopology, type Topology } from '../../src/lab/topology.js';

const privileges = resolve(import.meta.dirname, '../../dist/agent/privileges.js');

// Runs as root inside host "a"; prints one JSON line with what it observed after the drop.
const script = (ambient: boolean): string => `
import { readFileSync, readdirSync, chownSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dropPrivileges, parseProcCaps } from ${JSON.stringify(privileges)};
const caps = dropPrivileges({ runAs: { uid: 65534, gid: 65534, groups: [] }, ambient: ${ambient} });
const self = parseProcCaps(readFileSync('/proc/self/status', 'utf8'));
const threads = readdirSync('/proc/self/task').map((t) => parseProcCaps(readFileSync('/proc/self/task/' + t + '/status', 'utf8')).CapPrm);
let chown = 'ok';
try { chownSync('/proc/self/status', 0, 0); chownSync(process.argv[2], 0, 0); } catch (e) { chown = e.code; }
const add = spawnSync('ip', ['xfrm', 'state', 'add', 'src', '10.0.0.1', 'dst', '10.0.0.2', 'proto', 'esp', 'spi', '0x2000',
  'mode', 'transport', 'aead', 'rfc4106(gcm(aes))', '0x' + '22'.repeat(20), '128'], { encoding: 'utf8' });
const list = spawnSync('ip', ['xfrm', 'state'], { encoding: 'utf8' });
const hex = (v) => v === undefined ? null : '0x' + v.toString(16);
console.log(JSON.stringify({
  uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(),
  capEff: hex(self.CapEff), capPrm: hex(self.CapPrm), capBnd: hex(self.CapBnd), capAmb: hex(self.CapAmb), capInh: hex(self.CapInh),
  returned: hex(caps.effective), threads: threads.map(hex), chown,
  addCode: add.status, addErr: add.stderr, listCode: list.status, list: list.stdout,
}));
`;

describe('privilege drop', () => {
  let t: Topology;
  let dir: string;
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE, 'kernel tests run only inside the lab (npm test / npm run lab -- test)').toBe('1');
    t = await createTopology({ hosts: [{ name: 'a', addrs: ['10.0.0.1/24'] }, { name: 'b', addrs: ['10.0.0.2/24'] }], links: [{ type: 'veth', a: 'a', b: 'b' }] }, 'priv-');
    dir = mkdtempSync(join(tmpdir(), 'sipsec-priv-'));
    writeFileSync(join(dir, 'ambient.mjs'), script(true));
    writeFileSync(join(dir, 'plain.mjs'), script(false));
    writeFileSync(join(dir, 'victim'), 'x');
  });
  afterAll(async () => {
    await t?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function run(name: string): Promise<Record<string, unknown>> {
    expect((await t.exec('a', ['ip', 'xfrm', 'state', 'flush'])).code).toBe(0);
    const r = await t.exec('a', ['node', join(dir, name), join(dir, 'victim')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  }

  it('keeps only CAP_NET_ADMIN, as nobody, in every set and every thread', async () => {
    const o = await run('ambient.mjs');
    expect(o).toMatchObject({ uid: 65534, gid: 65534, capEff: '0x1000', capPrm: '0x1000', capBnd: '0x1000', capAmb: '0x1000', returned: '0x1000' });
    expect((o.groups as number[]).filter((g) => g !== 65534)).toEqual([]);
    // the main thread keeps CAP_NET_ADMIN; every other thread lost all capabilities
    expect((o.threads as string[])[0]).toBe('0x1000');
    expect((o.threads as string[]).slice(1).every((c) => c === '0x0')).toBe(true);
    expect(o.chown).toBe('EPERM');
  });

  it('XFRM still works with CAP_NET_ADMIN (child inherits it through the ambient set)', async () => {
    const o = await run('ambient.mjs');
    expect(o.addErr).toBe('');
    expect(o.addCode).toBe(0);
    expect(o.listCode).toBe(0);
    expect(o.list).toMatch(/spi 0x00002000/);
  });

  it('without ambient, children get no capability: ip xfrm is refused', async () => {
    const o = await run('plain.mjs');
    expect(o).toMatchObject({ capEff: '0x1000', capAmb: '0x0', capInh: '0x0' });
    expect(o.addCode).not.toBe(0);
    expect(o.addErr).toMatch(/Operation not permitted/);
  });
});
