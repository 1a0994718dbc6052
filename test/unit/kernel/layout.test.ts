// Our struct layout constants must match what gcc says <linux/xfrm.h> is.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LAYOUT } from '../../../src/kernel/xfrm/layout.js';

describe('UAPI struct layout', () => {
  it('agrees with native/layout.c compiled by cc', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipsec-layout-'));
    try {
      const exe = join(dir, 'layout');
      execFileSync('cc', ['-Wall', '-o', exe, resolve(import.meta.dirname, '../../../native/layout.c')]);
      const fromC = JSON.parse(execFileSync(exe, { encoding: 'utf8' })) as unknown;
      expect(LAYOUT).toEqual(fromC);
      expect(LAYOUT.xfrm_usersa_info.size).toBe(224);
      expect(LAYOUT.xfrm_userpolicy_info.size).toBe(168);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
