/** Plain-text tables for the terminal and Markdown tables for docs.  Pure. */

export interface Table {
  title: string;
  headers: string[];
  rows: string[][];
  /** Lines printed under the table (method, caveats). */
  notes?: string[];
}

/** Right-align cells that look numeric, left-align the rest. */
function numeric(s: string): boolean {
  return /^[-+]?[\d.,]+( ?[a-zµ%x/]+)?$/i.test(s.trim());
}

export function formatTable(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric(c) && i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [t.title, line(t.headers), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)];
  for (const n of t.notes ?? []) out.push(`  ${n}`);
  return out.join('\n') + '\n';
}

export function markdownTable(t: Table): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${t.headers.map(esc).join(' | ')} |`,
    `|${t.headers.map(() => '---').join('|')}|`,
    ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n') + '\n';
}
