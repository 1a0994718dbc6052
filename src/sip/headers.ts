/**
 * Header-section parsing shared by SIP messages (RFC 3261 §7.3) and MIME
 * body parts (RFC 2045 §3, RFC 822 §3.1):
 *
 *   message-header = field-name *(SP / HTAB) ":" SWS field-value CRLF
 *   LWS            = [*WSP CRLF] 1*WSP        ; folding: a line that starts
 *                                              ; with SP/HTAB continues the
 *                                              ; previous header
 *
 * Lines end in CRLF; a bare LF is accepted too (minisip and hand-written
 * test tools emit it).  A folded continuation is replaced by one SP.
 */
import { isToken, type Fail } from './grammar.js';

export interface Header {
  /** Field name as received (or expanded from a compact form by the caller). */
  readonly name: string;
  /** Field value, unfolded and trimmed. */
  readonly value: string;
}

/** Split text into lines at CRLF or bare LF. */
export function splitLines(text: string): string[] {
  return text.split(/\r?\n/);
}

/**
 * Parse header lines (without the blank line that ends the section).
 * At most `maxHeaders` headers; a line that is neither a header nor a
 * continuation is malformed.
 */
export function parseHeaderLines(lines: readonly string[], maxHeaders: number, fail: Fail): Header[] {
  // Pieces are joined once at the end: appending to a growing string per
  // continuation line would be quadratic on a 64 KiB header of folds.
  const out: { name: string; pieces: string[] }[] = [];
  for (const line of lines) {
    if (line.length === 0) fail('empty line inside header section');
    if (line[0] === ' ' || line[0] === '\t') {
      const last = out[out.length - 1];
      if (last === undefined) fail('continuation line before first header');
      last.pieces.push(line.trim());
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) fail('header line without ":"');
    let nameEnd = colon; // HCOLON = *( SP / HTAB ) ":" SWS
    while (nameEnd > 0 && (line[nameEnd - 1] === ' ' || line[nameEnd - 1] === '\t')) nameEnd--;
    const name = line.slice(0, nameEnd);
    if (!isToken(name)) fail(`bad header name "${name.slice(0, 40)}"`);
    if (out.length >= maxHeaders) fail(`more than ${maxHeaders} headers`);
    out.push({ name, pieces: [line.slice(colon + 1).trim()] });
  }
  return out.map(({ name, pieces }) => ({ name, value: pieces.filter((p) => p !== '').join(' ') }));
}

/** All values of header `name` (case-insensitive), in order. */
export function headerValues(headers: readonly Header[], name: string): string[] {
  const lower = name.toLowerCase();
  return headers.filter((h) => h.name.toLowerCase() === lower).map((h) => h.value);
}
