/** CSV (RFC 4180: CRLF-free variant with \n line ends, quoted where needed).  Pure. */

function cell(v: string | number | boolean | undefined): string {
  if (v === undefined) return '';
  const s = typeof v === 'number' && !Number.isFinite(v) ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(headers: readonly string[], rows: readonly (readonly (string | number | boolean | undefined)[])[]): string {
  return [headers, ...rows].map((r) => r.map(cell).join(',')).join('\n') + '\n';
}
