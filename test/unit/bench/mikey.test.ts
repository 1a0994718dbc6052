// The MIKEY benchmark is pure code: run it at its tiny size so it cannot rot.
import { describe, expect, it } from 'vitest';
import { benchMikey } from '../../../src/bench/mikey.js';
import { parseArgs } from '../../../src/bench/inside.js';

describe('bench: mikey (tiny)', () => {
  it('runs every mode and reports a well-formed result', async () => {
    const r = await benchMikey('tiny');
    expect(r.name).toBe('mikey');
    const rows = r.tables[0]!.rows;
    expect(rows.map((x) => x[0])).toEqual(['PSK', 'DHHMAC group 2', 'DHHMAC group 14', 'DH group 2 (RSA sign)', 'DH group 14 (RSA sign)', 'PKE (RSA-2048)']);
    for (const row of rows) expect(Number(row[1])).toBeGreaterThanOrEqual(1);
    expect(r.csv.mikey!.split('\n')[0]).toBe('mode,exchanges,seconds,exchanges_per_s,us_per_exchange,cpu_us_per_exchange');
    expect(r.csv.mikey!.trim().split('\n')).toHaveLength(7);
    expect(r.svg.mikey).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
    expect(r.checks).toHaveLength(2); // wall rate and rate per CPU-second
    for (const c of r.checks) expect(c.what).toMatch(/PSK/);
  }, 60_000);

  it('parses its arguments', () => {
    expect(parseArgs(['mikey'])).toEqual({ name: 'mikey', size: 'small' });
    expect(parseArgs(['scale', '--size', 'full'])).toEqual({ name: 'scale', size: 'full' });
    expect(() => parseArgs(['nope'])).toThrow(/unknown benchmark/);
    expect(() => parseArgs(['mikey', '--size', 'huge'])).toThrow(/--size/);
  });
});
