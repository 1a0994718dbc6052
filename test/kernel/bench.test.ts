// The kernel benchmarks at their tiny size, inside the lab, so they cannot rot:
// each must produce a well-formed result (tables, CSV, SVG, checks).  Timings
// are not asserted.
import { describe, expect, it } from 'vitest';
import { benchCallSetup } from '../../src/bench/call-setup.js';
import { benchSaInstall } from '../../src/bench/sa-install.js';
import { benchScale } from '../../src/bench/scale.js';
import { benchVersusIke } from '../../src/bench/versus-ike.js';
import type { BenchResult } from '../../src/bench/results.js';

function wellFormed(r: BenchResult, name: string): void {
  expect(r.name).toBe(name);
  expect(r.tables.length).toBeGreaterThan(0);
  for (const t of r.tables) for (const row of t.rows) expect(row).toHaveLength(t.headers.length);
  for (const [, csv] of Object.entries(r.csv)) {
    const lines = csv.trim().split('\n').filter((l) => !l.startsWith('#'));
    const cols = lines[0]!.split(',').length;
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l.split(',').length).toBeGreaterThanOrEqual(cols);
  }
  for (const [, svg] of Object.entries(r.svg)) {
    expect(svg).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
    expect(svg).not.toMatch(/NaN|undefined/);
  }
  expect(r.checks.length).toBeGreaterThan(0);
}

describe('benchmarks in the lab (tiny)', () => {
  it('sa-install', async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    const r = await benchSaInstall('tiny');
    wellFormed(r, 'sa-install');
    const methods = r.tables[0]!.rows.map((x) => x[0]);
    expect(methods).toEqual(expect.arrayContaining(['C baseline (nl_newsa)', 'ours: XfrmBackend.addSa', 'ip xfrm state add', 'daemon: answer round trip']));
  }, 300_000);

  it('scale', async () => {
    const r = await benchScale('tiny');
    wellFormed(r, 'scale');
    expect(r.tables[0]!.rows.map((x) => x[0])).toEqual(['3', '10']);
  }, 300_000);

  it('versus-ike (strongSwan must be installed: scripts/setup)', async () => {
    const r = await benchVersusIke('tiny');
    wellFormed(r, 'versus-ike');
    expect(r.tables[0]!.rows.map((x) => x[1])).toEqual(['3', '1', '1']);
  }, 600_000);

  it('call-setup (sipsec ua through kamailio: no security, PSK, DH, DHHMAC; accepting at once and after ringing)', async () => {
    const r = await benchCallSetup('tiny');
    wellFormed(r, 'call-setup');
    expect(r.tables[0]!.rows.map((x) => x[0])).toEqual(['∂1', '∂2', '∂3', '∂4', '∂5', '∂6', '∂7']);
    expect(r.tables[0]!.headers.slice(-4)).toEqual(['no security', 'MIKEY-PSK/ESP', 'MIKEY-DH/ESP', 'MIKEY-DHHMAC/ESP']);
    // Ringing: the PSK case also without the callee's 183 (the caller then keys at the 200 OK), the same-run baseline.
    expect(r.tables[1]!.headers.slice(-5)).toEqual(['no security, ring 1 s', 'MIKEY-PSK/ESP, ring 1 s', 'MIKEY-PSK/ESP, ring 1 s, no 183', 'MIKEY-DH/ESP, ring 1 s', 'MIKEY-DHHMAC/ESP, ring 1 s']);
    expect(r.tables[2]!.rows.map((x) => x[1])).toEqual(Array(9).fill('3'));
    expect(r.checks.map((c) => c.what)).toEqual(
      expect.arrayContaining(['MIKEY-PSK/ESP ∂4 vs no security (mean)', 'MIKEY-DH/ESP ∂6 vs no security (mean)', 'MIKEY-PSK/ESP, ring 1 s ∂4 vs no security, ring 1 s (mean)']),
    );
  }, 1_200_000);
});
