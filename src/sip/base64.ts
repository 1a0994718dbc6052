/**
 * RFC 2045 §6.8 Base64 Content-Transfer-Encoding.
 *
 *   encode: 24-bit groups -> 4 chars of A-Z a-z 0-9 + /, "=" pads the last
 *           group; output lines of at most 76 chars joined by CRLF.
 *   decode: line breaks and other whitespace are ignored; any other char
 *           outside the alphabet is rejected (§6.8 permits rejection and it
 *           catches corruption early); "=" ends the data and only "=" or
 *           whitespace may follow it.  A final group of 2 or 3 chars is
 *           accepted with or without padding; a lone final char is malformed.
 *
 * Node's Buffer base64 decoder silently skips garbage, so this module checks
 * the text itself and only then hands it to Buffer.
 */

const LINE = 76;

export function encodeBase64Mime(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += LINE) lines.push(b64.slice(i, i + LINE));
  return lines.join('\r\n');
}

/** Decode; returns null when `text` is not valid base64 under the rules above. */
export function decodeBase64Mime(text: string): Uint8Array | null {
  const m = /^([A-Za-z0-9+/\s]*?)((?:=\s*){0,2})$/.exec(text);
  if (m === null) return null;
  const data = m[1].replace(/\s+/g, '');
  if (data.length % 4 === 1) return null;
  const padded = data + '='.repeat((4 - (data.length % 4)) % 4);
  return new Uint8Array(Buffer.from(padded, 'base64'));
}

/** True when every byte is a base64 alphabet char, "=" or whitespace. */
export function looksLikeBase64(text: string): boolean {
  return /^[A-Za-z0-9+/=\s]+$/.test(text) && /[A-Za-z0-9+/]/.test(text);
}
