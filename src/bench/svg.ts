/**
 * A tiny dependency-free SVG plotter: line charts (optionally log-scaled x)
 * and grouped bar charts, with axes, ticks, labels and a legend.  Pure:
 * data in, SVG text out.
 */

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  logX?: boolean;
}

export interface BarChart {
  title: string;
  yLabel: string;
  /** Category labels along the x axis. */
  categories: readonly string[];
  /** One value per category per series (NaN: no bar). */
  series: readonly { name: string; values: readonly number[] }[];
  /** Draw a dashed horizontal reference line (e.g. 1.0 for "equal to the baseline"). */
  reference?: { value: number; label: string };
}

export class SvgError extends Error {
  override readonly name = 'SvgError';
}

const W = 720;
const H = 420;
const M = { left: 80, right: 190, top: 40, bottom: 110 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About five "nice" ticks (1, 2, 5 × 10^k) covering 0..max. */
export function niceTicks(max: number): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}

function frame(title: string, yLabel: string, xLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text transform="translate(18 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function yAxis(yMax: number): { y: (v: number) => number; parts: string[] } {
  const ticks = niceTicks(yMax);
  const top = ticks[ticks.length - 1]!;
  const y = (v: number) => H - M.bottom - (v / top) * (H - M.top - M.bottom);
  const parts = [`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="black"/>`];
  for (const t of ticks) {
    parts.push(`<line x1="${M.left}" y1="${y(t).toFixed(1)}" x2="${W - M.right}" y2="${y(t).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${M.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  parts.push(`<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="black"/>`);
  return { y, parts };
}

function legend(names: readonly string[]): string[] {
  return names.flatMap((n, i) => [
    `<rect x="${W - M.right + 12}" y="${M.top + i * 20}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
    `<text x="${W - M.right + 30}" y="${M.top + i * 20 + 10}">${escapeXml(n)}</text>`,
  ]);
}

export function lineChart(c: LineChart): string {
  const pts = c.series.flatMap((s) => s.points);
  if (pts.length === 0) throw new SvgError('line chart without points');
  if (pts.some(([x, y]) => !Number.isFinite(x) || !Number.isFinite(y))) throw new SvgError('line chart point is not a finite number');
  if (c.logX && pts.some(([x]) => x <= 0)) throw new SvgError('log-x chart needs positive x values');
  const tx = (x: number) => (c.logX ? Math.log10(x) : x);
  const xs = pts.map(([x]) => tx(x));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs) === x0 ? x0 + 1 : Math.max(...xs);
  const x = (v: number) => M.left + ((tx(v) - x0) / (x1 - x0)) * (W - M.left - M.right);
  const { y, parts } = yAxis(Math.max(...pts.map(([, v]) => v)));
  const xTicks = [...new Set(pts.map(([v]) => v))].sort((a, b) => a - b);
  for (const t of xTicks) {
    parts.push(`<line x1="${x(t).toFixed(1)}" y1="${H - M.bottom}" x2="${x(t).toFixed(1)}" y2="${H - M.bottom + 5}" stroke="black"/>`);
    parts.push(`<text x="${x(t).toFixed(1)}" y="${H - M.bottom + 18}" text-anchor="middle">${fmt(t)}</text>`);
  }
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const sorted = [...s.points].sort((a, b) => a[0] - b[0]);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${sorted.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')}"/>`);
    for (const [a, b] of sorted) parts.push(`<circle cx="${x(a).toFixed(1)}" cy="${y(b).toFixed(1)}" r="3" fill="${color}"/>`);
  });
  parts.push(...legend(c.series.map((s) => s.name)));
  return frame(c.title, c.yLabel, c.xLabel + (c.logX ? ' (log scale)' : ''), parts);
}

export function barChart(c: BarChart): string {
  if (c.categories.length === 0 || c.series.length === 0) throw new SvgError('bar chart without bars');
  for (const s of c.series) if (s.values.length !== c.categories.length) throw new SvgError(`series "${s.name}" has ${s.values.length} values for ${c.categories.length} categories`);
  const vals = c.series.flatMap((s) => s.values).filter((v) => Number.isFinite(v));
  if (vals.some((v) => v < 0)) throw new SvgError('bar chart values must be >= 0');
  const { y, parts } = yAxis(Math.max(...vals, c.reference?.value ?? 0, 0));
  const slot = (W - M.left - M.right) / c.categories.length;
  const bw = (slot * 0.8) / c.series.length;
  c.categories.forEach((cat, ci) => {
    c.series.forEach((s, si) => {
      const v = s.values[ci]!;
      if (!Number.isFinite(v)) return;
      const bx = M.left + ci * slot + slot * 0.1 + si * bw;
      parts.push(`<rect x="${bx.toFixed(1)}" y="${y(v).toFixed(1)}" width="${bw.toFixed(1)}" height="${(H - M.bottom - y(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${escapeXml(`${s.name} ${cat}: ${fmt(v)}`)}</title></rect>`);
    });
    const cx = M.left + ci * slot + slot / 2;
    // Category labels slant so that long ones do not overlap.
    parts.push(`<text transform="translate(${cx.toFixed(1)} ${H - M.bottom + 14}) rotate(-30)" text-anchor="end" font-size="11">${escapeXml(cat)}</text>`);
  });
  if (c.reference) {
    const ry = y(c.reference.value).toFixed(1);
    parts.push(`<line x1="${M.left}" y1="${ry}" x2="${W - M.right}" y2="${ry}" stroke="black" stroke-dasharray="5,4"/>`);
    parts.push(`<text x="${W - M.right - 4}" y="${Number(ry) - 4}" text-anchor="end" font-size="11">${escapeXml(c.reference.label)}</text>`);
  }
  parts.push(...legend(c.series.map((s) => s.name)));
  return frame(c.title, c.yLabel, '', parts);
}
