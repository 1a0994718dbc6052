import { describe, expect, it } from 'vitest';
import { StatsError, fmtNs, fmtRatio, percentile, ratio, summarize } from '../../../src/bench/stats.js';

describe('bench stats', () => {
  it('nearest-rank percentiles', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(s, 50)).toBe(50);
    expect(percentile(s, 90)).toBe(90);
    expect(percentile(s, 99)).toBe(99);
    expect(percentile(s, 100)).toBe(100);
    expect(percentile(s, 0)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
  });

  it('summarize sorts its input and leaves it alone', () => {
    const raw = [5, 1, 4, 2, 3];
    expect(summarize(raw)).toEqual({ n: 5, min: 1, p50: 3, p90: 5, p99: 5, max: 5, mean: 3 });
    expect(raw).toEqual([5, 1, 4, 2, 3]);
  });

  it('refuses empty samples and bad percentiles with a typed error', () => {
    expect(() => summarize([])).toThrow(StatsError);
    expect(() => percentile([1], 101)).toThrow(StatsError);
    expect(() => percentile([1], NaN)).toThrow(StatsError);
  });

  it('ratios and formats', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(1, 0)).toBeNaN();
    expect(fmtRatio(1.5)).toBe('1.50x');
    expect(fmtRatio(674.4)).toBe('674x');
    expect(fmtRatio(NaN)).toBe('-');
    expect(fmtNs(387_000)).toBe('387 µs');
    expect(fmtNs(39_200_000)).toBe('39.2 ms');
    expect(fmtNs(7_710_000_000)).toBe('7.71 s');
    expect(fmtNs(950)).toBe('950 ns');
  });
});
