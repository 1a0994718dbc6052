/**
 * Structured mutation for fuzzing: a small deterministic PRNG and the usual
 * byte-level mutators (bit flips, interesting values, inserts, deletes,
 * splices, length-field nudges), applied in short stacks to seed inputs.
 */

/** xorshift128+ on two 32-bit halves: fast, deterministic, good enough for fuzzing. */
export class Prng {
  private s0: number;
  private s1: number;
  constructor(seed: number) {
    this.s0 = (seed ^ 0x9e3779b9) >>> 0 || 1;
    this.s1 = (Math.imul(seed, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0 || 2;
  }
  u32(): number {
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    this.s1 = x >>> 0;
    return (this.s0 + this.s1) >>> 0;
  }
  below(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

const INTERESTING = [0x00, 0x01, 0x02, 0x07, 0x08, 0x0c, 0x0d, 0x10, 0x14, 0x15, 0x20, 0x40, 0x7f, 0x80, 0xfe, 0xff];

type Mutator = (d: Uint8Array, r: Prng, other: Uint8Array) => Uint8Array;

const MUTATORS: Mutator[] = [
  (d, r) => {
    if (!d.length) return d;
    const c = d.slice();
    const i = r.below(c.length);
    c[i] = c[i]! ^ (1 << r.below(8));
    return c;
  },
  (d, r) => {
    if (!d.length) return d;
    const c = d.slice();
    c[r.below(c.length)] = INTERESTING[r.below(INTERESTING.length)]!;
    return c;
  },
  (d, r) => {
    // Nudge what may be a length or count field by a small amount.
    if (!d.length) return d;
    const c = d.slice();
    const i = r.below(c.length);
    c[i] = (c[i]! + (r.below(2) ? 1 : -1) * (1 + r.below(4))) & 0xff;
    return c;
  },
  (d, r) => d.subarray(0, r.below(d.length + 1)),
  (d, r) => {
    const at = r.below(d.length + 1);
    const ins = r.bytes(1 + r.below(16));
    const c = new Uint8Array(d.length + ins.length);
    c.set(d.subarray(0, at));
    c.set(ins, at);
    c.set(d.subarray(at), at + ins.length);
    return c;
  },
  (d, r) => {
    if (!d.length) return d;
    const at = r.below(d.length);
    const n = 1 + r.below(Math.min(16, d.length - at));
    const c = new Uint8Array(d.length - n);
    c.set(d.subarray(0, at));
    c.set(d.subarray(at + n), at);
    return c;
  },
  (d, r, other) => {
    // Splice: head of this input, tail of another seed.
    const a = r.below(d.length + 1);
    const b = r.below(other.length + 1);
    const c = new Uint8Array(a + other.length - b);
    c.set(d.subarray(0, a));
    c.set(other.subarray(b), a);
    return c;
  },
  (d, r) => {
    // Duplicate a block (repeated payloads, long chains).
    if (!d.length) return d;
    const at = r.below(d.length);
    const n = 1 + r.below(Math.min(64, d.length - at));
    const c = new Uint8Array(d.length + n);
    c.set(d.subarray(0, at + n));
    c.set(d.subarray(at, at + n), at + n);
    c.set(d.subarray(at + n), at + 2 * n);
    return c;
  },
];

/** One fuzz input: a random blob now and then, otherwise a stack of 1-4 mutations of a seed. */
export function nextInput(seeds: readonly Uint8Array[], r: Prng): Uint8Array {
  if (!seeds.length || r.below(16) === 0) return r.bytes(r.below(256));
  let d = seeds[r.below(seeds.length)]!;
  const other = seeds[r.below(seeds.length)]!;
  for (let k = 1 + r.below(4); k > 0; k--) d = MUTATORS[r.below(MUTATORS.length)]!(d, r, other);
  return d;
}
