// Our PF_KEY struct layout constants must match what gcc says <linux/pfkeyv2.h> is.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LAYOUT } from '../../../src/kernel/pfkey/layout.js';

describe('PF_KEY v2 struct layout', () => {
  it('agrees with native/pfkey_layout.c compiled by cc', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipsec-pfkey-layout-'));
    try {
      const exe = join(dir, 'pfkey_layout');
      execFileSync('cc', ['-Wall', '-o', exe, resolve(import.meta.dirname, '../../../native/pfkey_layout.c')]);
      const fromC = JSON.parse(execFileSync(exe, { encoding: 'utf8' })) as unknown;
      expect(LAYOUT).toEqual(fromC);
      // Every PF_KEY extension is a multiple of 8 bytes (RFC 2367 §2.2).
      for (const s of ['sadb_msg', 'sadb_sa', 'sadb_lifetime', 'sadb_address', 'sadb_key', 'sadb_spirange', 'sadb_x_sa2', 'sadb_x_policy', 'sadb_x_ipsecrequest'] as const) {
        expect(LAYOUT[s].size % 8).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
