/**
 * MIKEY timestamp values, RFC 3830 §6.6 (T payload) and their freshness check
 * (§5.4).  The T payload codec, `TsType` and `tsValueLength` live with the
 * other payloads (payloads/t.ts); this module converts the "TS value" field
 * and checks it.
 *
 * NTP 64-bit format (RFC 5905 §6), big-endian:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                   Seconds since 1900-01-01 UTC                |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                   Fraction (units of 2^-32 s)                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * We send NTP-UTC.  A received NTP (type 1) value is read the same way: NTP
 * time is UTC-based, and no peer we know of puts local time in it.  Seconds
 * with the top bit clear are taken as NTP era 1 (2036-02-07 onwards), as RFC
 * 4330 §3 suggests, so the conversion keeps working past 2036.
 */
import { MikeyError, ErrNo, malformed } from './errors.js';
import { TsType, tsValueLength } from './payloads/t.js';

/** Seconds from 1900-01-01 (NTP epoch) to 1970-01-01 (Unix epoch). */
const NTP_UNIX_OFFSET = 2_208_988_800;
const ERA = 2 ** 32;

// Big-endian 32-bit fields by hand: a DataView over a fresh small array makes V8 move it off-heap.
const getU32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
function setU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/** 64-bit NTP value of a Unix time in milliseconds. */
export function msToNtp(ms: number): Uint8Array {
  if (!Number.isFinite(ms)) throw malformed('time is not finite');
  const totalSec = Math.floor(ms / 1000) + NTP_UNIX_OFFSET;
  const frac = Math.floor(((ms - Math.floor(ms / 1000) * 1000) / 1000) * ERA);
  const out = new Uint8Array(8);
  setU32(out, 0, totalSec % ERA);
  setU32(out, 4, frac);
  return out;
}

/** Unix milliseconds of a 64-bit NTP value (era 0 if the top bit is set, else era 1). */
export function ntpToMs(value: Uint8Array): number {
  if (value.length !== 8) throw malformed(`NTP value is ${value.length} bytes, expected 8`);
  const sec = getU32(value, 0);
  const frac = getU32(value, 4);
  const era = sec >= 0x80000000 ? 0 : ERA;
  return (sec + era - NTP_UNIX_OFFSET) * 1000 + Math.round((frac * 1000) / ERA);
}

export const dateToNtp = (d: Date): Uint8Array => msToNtp(d.getTime());
export const ntpToDate = (value: Uint8Array): Date => new Date(ntpToMs(value));

/** 32-bit COUNTER value <-> number. */
export function counterToBytes(counter: number): Uint8Array {
  if (!Number.isInteger(counter) || counter < 0 || counter > 0xffffffff) throw malformed(`COUNTER ${counter} out of range`);
  const out = new Uint8Array(4);
  setU32(out, 0, counter);
  return out;
}
export function bytesToCounter(value: Uint8Array): number {
  if (value.length !== 4) throw malformed(`COUNTER value is ${value.length} bytes, expected 4`);
  return getU32(value, 0);
}

/** |t - now| <= windowMs, else MikeyError(INVALID_TS) (§5.4). */
export function checkSkew(tMs: number, nowMs: number, windowMs: number): void {
  if (!(Math.abs(tMs - nowMs) <= windowMs)) {
    throw new MikeyError(ErrNo.INVALID_TS, `timestamp is ${Math.round((tMs - nowMs) / 1000)} s off, allowed ±${windowMs / 1000} s`);
  }
}

/**
 * Freshness of a T payload by time: NTP-UTC/NTP values are converted and
 * checked with `checkSkew`; returns the timestamp in Unix ms.  COUNTER values
 * carry no time: they are checked against the last accepted counter by the
 * replay cache instead, so this throws MikeyError(INVALID_TS) for them.
 */
export function checkTimestamp(type: number, value: Uint8Array, nowMs: number, windowMs: number): number {
  const len = tsValueLength(type);
  if (value.length !== len) throw new MikeyError(ErrNo.INVALID_TS, `TS value is ${value.length} bytes, expected ${len}`);
  if (type === TsType.COUNTER) throw new MikeyError(ErrNo.INVALID_TS, 'COUNTER timestamps have no time to check');
  const tMs = ntpToMs(value);
  checkSkew(tMs, nowMs, windowMs);
  return tMs;
}
