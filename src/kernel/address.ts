/**
 * IP address and prefix text <-> bytes (IPv4 4 bytes, IPv6 16 bytes, network
 * order).  Pure; invalid text gives a KernelValidationError naming the field.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { KernelValidationError } from './errors.js';

export type AddressFamily = 4 | 6;

export interface ParsedAddress {
  family: AddressFamily;
  bytes: Uint8Array;
}

export function parseAddress(text: string, field: string): ParsedAddress {
  if (isIPv4(text)) {
    return { family: 4, bytes: Uint8Array.from(text.split('.').map(Number)) };
  }
  if (isIPv6(text)) return { family: 6, bytes: parseIPv6(text) };
  throw new KernelValidationError(field, `"${text}" is not an IPv4 or IPv6 address`);
}

function parseIPv6(text: string): Uint8Array {
  // isIPv6 has validated the syntax; expand '::' and a trailing dotted quad.
  let s = text.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    s = s.slice(0, v4.index) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** Text form (RFC 5952 for IPv6) of 4 or 16 bytes. */
export function formatAddress(bytes: Uint8Array, family: AddressFamily): string {
  if (family === 4) return Array.from(bytes.subarray(0, 4)).join('.');
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  // Longest run (>= 2) of zero groups becomes '::'.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

export interface ParsedPrefix extends ParsedAddress {
  prefixLen: number;
}

/** 'addr' or 'addr/len'. */
export function parsePrefix(text: string, field: string): ParsedPrefix {
  const slash = text.indexOf('/');
  const addr = parseAddress(slash < 0 ? text : text.slice(0, slash), field);
  const max = addr.family === 4 ? 32 : 128;
  if (slash < 0) return { ...addr, prefixLen: max };
  const lenText = text.slice(slash + 1);
  const len = Number(lenText);
  if (!/^\d{1,3}$/.test(lenText) || len > max) {
    throw new KernelValidationError(field, `bad prefix length in "${text}"`);
  }
  return { ...addr, prefixLen: len };
}

export function formatPrefix(bytes: Uint8Array, family: AddressFamily, prefixLen: number): string {
  return `${formatAddress(bytes, family)}/${prefixLen}`;
}
