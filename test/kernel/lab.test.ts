// The lab itself, on the lab kernel: namespaces, links, users, and ESP present.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopology, type Topology } from '../../src/lab/topology.js';

describe('lab topology', () => {
  let t: Topology;
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE, 'kernel tests run only inside the lab (npm test / npm run lab -- test)').toBe('1');
    t = await createTopology({
      hosts: [
        { name: 'a', addrs: ['10.0.0.1/24', 'fd00::1/64'] },
        { name: 'b', addrs: ['10.0.0.2/24', 'fd00::2/64'] },
        { name: 'c' },
      ],
      links: [
        { type: 'veth', a: 'a', b: 'b' },
        { type: 'bridge', name: 'br0', hosts: ['a', 'c'] },
      ],
    }, 'labt-');
  });
  afterAll(async () => t?.destroy());

  it('joins two hosts by veth over IPv4 and IPv6', async () => {
    expect((await t.exec('a', ['ping', '-c1', '-W2', '10.0.0.2'])).code).toBe(0);
    expect((await t.exec('a', ['ping', '-c1', '-W2', 'fd00::2'])).code).toBe(0);
  });

  it('gives each host its own interfaces and addresses', async () => {
    const a = await t.exec('a', ['ip', '-br', 'addr']);
    expect(a.stdout).toMatch(/eth0\S*\s+UP\s+10\.0\.0\.1\/24 fd00::1\/64/);
    expect(a.stdout).toMatch(/eth1/);
    const c = await t.exec('c', ['ip', '-br', 'link']);
    expect(c.stdout).toMatch(/eth0\S*\s+UP/);
  });

  it('runs commands as an unprivileged user', async () => {
    const r = await t.exec('a', ['id', '-u'], { user: { uid: 65534, gid: 65534 } });
    expect(r.stdout.trim()).toBe('65534');
    expect((await t.exec('a', ['ping', '-c1', '-W2', '10.0.0.2'], { user: { uid: 65534, gid: 65534 } })).code).toBe(0);
  });

  it('has a kernel with ESP (the host kernel has none)', async () => {
    const r = await t.exec('a', ['ip', 'xfrm', 'state', 'add', 'src', '10.0.0.1', 'dst', '10.0.0.2', 'proto', 'esp',
      'spi', '0x1000', 'mode', 'transport', 'aead', 'rfc4106(gcm(aes))', '0x' + '11'.repeat(20), '128']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await t.exec('a', ['ip', 'xfrm', 'state', 'flush'])).code).toBe(0);
  });

  it('removes its namespaces on destroy', async () => {
    const extra = await createTopology({ hosts: [{ name: 'x' }], links: [] }, 'labt-');
    await extra.destroy();
    const r = await t.exec('a', ['ip', 'netns', 'list']);
    expect(r.stdout).not.toMatch(/labt-x/);
  });
});
