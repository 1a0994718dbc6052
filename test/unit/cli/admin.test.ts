import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startServer, type SipsecServer } from '../../../src/agent/server.js';
import { render, runAdmin } from '../../../src/cli/admin.js';

const PEER = {
  key: '10.0.0.1|10.0.0.2', local: '10.0.0.1', peer: '10.0.0.2', reqid: 1, inSpi: 0xc0de, outSpi: 0xbeef, suite: 'aes-gcm-256',
  calls: ['c1', 'c2'], installedAt: 1, selectors: [{ src: '10.0.0.1', dst: '10.0.0.2' }],
};

describe('sipsec admin commands', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sipsec-admin-'));
  const sock = join(dir, 'sipsecd.sock');
  const asked: string[] = [];
  let server: SipsecServer;

  beforeAll(async () => {
    server = await startServer({
      path: sock,
      authorize: () => ({ admin: true }),
      handlers: {
        peers: async () => ({ peers: [PEER] }),
        release: async ({ callId }) => (asked.push(`release ${callId}`), { released: true }),
        flush: async () => (asked.push('flush'), { removed: 6 }),
      },
    });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(cmd: string, ...args: string[]): Promise<{ code: number; out: string }> {
    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((t) => ((out += String(t)), true));
    try {
      return { code: await runAdmin(cmd, [...args, '--socket', sock]), out };
    } finally {
      spy.mockRestore();
    }
  }

  it('prints lists as tables, SPIs in hex', async () => {
    const { code, out } = await run('peers');
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).toBe('peers:');
    expect(lines[1]).toMatch(/^key\s+local\s+peer\s+reqid\s+inSpi\s+outSpi\s+suite\s+calls\s+installedAt\s+selectors$/);
    expect(lines[3]).toContain('0x0000c0de');
    expect(lines[3]).toContain('0x0000beef');
    expect(lines[3]).toContain('["c1","c2"]');
  });

  it('release CALL-ID and flush-own reach their operations', async () => {
    expect((await run('release', 'c1')).code).toBe(0);
    expect((await run('flush-own')).out).toBe('removed: 6\n');
    expect(asked).toEqual(['release c1', 'flush']);
    expect(await run('release')).toMatchObject({ code: 1 });
  });

  it('renders scalars as key: value and empty lists as none', () => {
    expect(render({ released: true, calls: [] })).toBe('released: true\ncalls: none\n');
  });
});
