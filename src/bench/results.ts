/**
 * What every benchmark returns, and writing it out: the table on stdout,
 * CSV and SVG under bench/results/ (I/O only here).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatTable, type Table } from './table.js';

export const RESULTS_DIR = resolve(import.meta.dirname, '..', '..', 'bench', 'results');

export type BenchSize = 'tiny' | 'small' | 'full';

export interface Check {
  what: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface BenchResult {
  name: string;
  tables: Table[];
  /** File stem (under bench/results/) -> CSV text. */
  csv: Record<string, string>;
  /** File stem -> SVG text. */
  svg: Record<string, string>;
  checks: Check[];
  /** Where the run happened (kernel, lab kind, size). */
  context: Record<string, string>;
}

export function checksTable(checks: readonly Check[]): Table {
  return {
    title: 'Targets',
    headers: ['target', 'goal', 'measured', 'result'],
    rows: checks.map((c) => [c.what, c.target, c.measured, c.met ? 'met' : 'MISSED']),
  };
}

export function renderResult(r: BenchResult): string {
  const ctx = Object.entries(r.context).map(([k, v]) => `${k}: ${v}`).join(', ');
  const tables = [...r.tables, ...(r.checks.length ? [checksTable(r.checks)] : [])];
  return `== ${r.name} (${ctx}) ==\n\n` + tables.map(formatTable).join('\n');
}

/** Write CSV, SVG and the text report (atomically, via .tmp) to `dir`; returns the paths. */
export function writeResult(r: BenchResult, dir = RESULTS_DIR): string[] {
  mkdirSync(dir, { recursive: true });
  const files: [string, string][] = [
    ...Object.entries(r.csv).map(([k, v]) => [`${k}.csv`, v] as [string, string]),
    ...Object.entries(r.svg).map(([k, v]) => [`${k}.svg`, v] as [string, string]),
    [`${r.name}.txt`, renderResult(r)],
  ];
  return files.map(([name, text]) => {
    const path = join(dir, name);
    writeFileSync(path + '.tmp', text);
    renameSync(path + '.tmp', path);
    return path;
  });
}
