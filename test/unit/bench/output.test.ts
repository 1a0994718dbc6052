import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toCsv } from '../../../src/bench/csv.js';
import { renderResult, writeResult, type BenchResult } from '../../../src/bench/results.js';
import { SvgError, barChart, escapeXml, lineChart, niceTicks } from '../../../src/bench/svg.js';
import { formatTable, markdownTable } from '../../../src/bench/table.js';

describe('CSV', () => {
  it('quotes commas, quotes and newlines, leaves plain cells alone, blanks non-finite numbers', () => {
    expect(toCsv(['a', 'b'], [[1, 'x'], ['p,q', 'say "hi"'], ['l1\nl2', NaN], [undefined, true]])).toBe(
      'a,b\n1,x\n"p,q","say ""hi"""\n"l1\nl2",\n,true\n',
    );
  });
});

describe('SVG plotter', () => {
  const wellFormed = (svg: string) => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    // Every opened element is closed or self-closed.
    const opened = (svg.match(/<(rect|text|line|polyline|circle|svg|title)\b/g) ?? []).length;
    const closed = (svg.match(/<\/(rect|text|line|polyline|circle|svg|title)>|\/>/g) ?? []).length;
    expect(closed).toBe(opened);
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  };

  it('draws a line chart with one polyline per series, axes labels and a legend', () => {
    const svg = lineChart({
      title: 'cost <vs> peers',
      xLabel: 'peers',
      yLabel: 'ratio',
      logX: true,
      series: [
        { name: 'install', points: [[10, 1.2], [100, 1.3], [1000, 1.4]] },
        { name: 'lookup & co', points: [[10, 0.9], [100, 1], [1000, 1.1]] },
      ],
    });
    wellFormed(svg);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('cost &lt;vs&gt; peers');
    expect(svg).toContain('lookup &amp; co');
    expect(svg).toContain('peers (log scale)');
    expect(svg.match(/<circle/g)).toHaveLength(6);
  });

  it('draws grouped bars, skips NaN values, draws the reference line', () => {
    const svg = barChart({
      title: 't',
      yLabel: 'y',
      categories: ['a', 'b', 'c'],
      series: [{ name: 's1', values: [1, NaN, 3] }, { name: 's2', values: [2, 2, 2] }],
      reference: { value: 1, label: 'baseline' },
    });
    wellFormed(svg);
    expect(svg.match(/<rect x=/g)).toHaveLength(5 + 2); // 5 bars + 2 legend swatches
    expect(svg).toContain('stroke-dasharray');
  });

  it('refuses charts it cannot draw with a typed error', () => {
    expect(() => lineChart({ title: '', xLabel: '', yLabel: '', series: [] })).toThrow(SvgError);
    expect(() => lineChart({ title: '', xLabel: '', yLabel: '', logX: true, series: [{ name: 'x', points: [[0, 1]] }] })).toThrow(SvgError);
    expect(() => lineChart({ title: '', xLabel: '', yLabel: '', series: [{ name: 'x', points: [[1, NaN]] }] })).toThrow(SvgError);
    expect(() => barChart({ title: '', yLabel: '', categories: ['a'], series: [{ name: 's', values: [1, 2] }] })).toThrow(SvgError);
    expect(() => barChart({ title: '', yLabel: '', categories: ['a'], series: [{ name: 's', values: [-1] }] })).toThrow(SvgError);
  });

  it('nice ticks cover the maximum in 1-2-5 steps', () => {
    expect(niceTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0)).toEqual([0, 1]);
    expect(escapeXml('<a & "b">')).toBe('&lt;a &amp; &quot;b&quot;&gt;');
  });
});

describe('tables and result files', () => {
  const result: BenchResult = {
    name: 'demo',
    tables: [{ title: 'T', headers: ['method', 'p50'], rows: [['C', '387 µs'], ['ours | koffi', '390 µs']], notes: ['a note'] }],
    csv: { demo: 'a,b\n1,2\n' },
    svg: { demo: barChart({ title: 't', yLabel: 'y', categories: ['x'], series: [{ name: 's', values: [1] }] }) },
    checks: [{ what: 'ours vs C', target: '<= 1.1x', measured: '1.01x', met: true }],
    context: { size: 'tiny' },
  };

  it('aligns columns and prints notes and targets', () => {
    const text = formatTable(result.tables[0]!);
    const lines = text.split('\n');
    expect(lines[0]).toBe('T');
    expect(lines[1]!.indexOf('p50')).toBe(lines[3]!.indexOf('387') - 0);
    expect(text).toContain('  a note');
    expect(renderResult(result)).toMatch(/Targets[\s\S]*ours vs C\s+<= 1.1x\s+1.01x\s+met/);
    expect(markdownTable(result.tables[0]!)).toContain('| ours \\| koffi | 390 µs |');
  });

  it('writes CSV, SVG and the text report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-out-'));
    const files = writeResult(result, dir);
    expect(readdirSync(dir).sort()).toEqual(['demo.csv', 'demo.svg', 'demo.txt']);
    expect(files).toHaveLength(3);
    expect(readFileSync(join(dir, 'demo.csv'), 'utf8')).toBe('a,b\n1,2\n');
  });
});
