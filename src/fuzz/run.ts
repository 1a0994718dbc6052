/**
 * The fuzz loop: feed a target mutated seeds, record every input that makes it
 * throw (the targets swallow their own typed errors, so anything thrown is a
 * finding) or that takes longer than the hang limit, and watch memory.
 */
import { createHash } from 'node:crypto';
import { nextInput, Prng } from './mutate.js';

export interface FuzzTarget {
  name: string;
  /** Throws only on a bug: a raw (untyped) error, or an inconsistency. */
  run(data: Uint8Array): void;
}

export interface Finding {
  kind: 'crash' | 'hang';
  input: Uint8Array;
  message: string;
  id: string;
}

export interface FuzzReport {
  target: string;
  inputs: number;
  findings: Finding[];
  slowestMs: number;
  heapGrowthMiB: number;
  seconds: number;
}

export interface FuzzOptions {
  count: number;
  seed: number;
  hangMs?: number;
  onProgress?: (done: number) => void;
}

function heapMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

export function fuzz(target: FuzzTarget, seeds: readonly Uint8Array[], opts: FuzzOptions): FuzzReport {
  const r = new Prng(opts.seed);
  const hangMs = opts.hangMs ?? 250;
  const findings = new Map<string, Finding>();
  let slowestMs = 0;
  const t0 = performance.now();
  // Warm up before the memory baseline so JIT and caches do not count as growth.
  for (const s of seeds) runOne(target, s, hangMs, findings);
  const heap0 = heapMiB();
  for (let i = 0; i < opts.count; i++) {
    const ms = runOne(target, nextInput(seeds, r), hangMs, findings);
    if (ms > slowestMs) slowestMs = ms;
    if (opts.onProgress && i % 10_000 === 0) opts.onProgress(i);
  }
  return {
    target: target.name,
    inputs: opts.count,
    findings: [...findings.values()],
    slowestMs,
    heapGrowthMiB: heapMiB() - heap0,
    seconds: (performance.now() - t0) / 1000,
  };
}

function runOne(target: FuzzTarget, input: Uint8Array, hangMs: number, findings: Map<string, Finding>): number {
  const t = performance.now();
  let error: unknown;
  try {
    target.run(input);
  } catch (e) {
    error = e;
  }
  let ms = performance.now() - t;
  // A slow run may be a GC pause or a busy machine: a hang is slow again on two reruns.
  for (let k = 0; k < 2 && error === undefined && ms > hangMs; k++) {
    const t2 = performance.now();
    target.run(input);
    ms = Math.min(ms, performance.now() - t2);
  }
  if (error !== undefined || ms > hangMs) {
    const id = createHash('sha256').update(input).digest('hex').slice(0, 16);
    const kind = error !== undefined ? 'crash' : 'hang';
    const message = error !== undefined ? (error instanceof Error ? `${error.name}: ${error.message}` : String(error)) : `took ${ms.toFixed(0)} ms`;
    findings.set(id, { kind, input, message, id });
  }
  return ms;
}
