// Bounded fuzz runs and the regression corpus (every seed and every saved
// finding in test/fuzz/corpus/<target>/) on each test run; the full runs are
// `npm run fuzz -- <target>`.
import { describe, expect, it } from 'vitest';
import { fuzz } from '../../../src/fuzz/run.js';
import { nextInput, Prng } from '../../../src/fuzz/mutate.js';
import { loadCorpus, TARGETS } from '../../../src/fuzz/targets.js';

describe.each(Object.keys(TARGETS))('fuzz target %s', (name) => {
  const target = TARGETS[name]!;
  const corpus = loadCorpus(name);

  it('has a seed corpus', () => {
    expect(corpus.length).toBeGreaterThan(0);
  });

  it('replays every corpus and regression input without a crash', () => {
    for (const input of corpus) expect(() => target.run(input)).not.toThrow();
  });

  it('survives a bounded mutation run: no crash, no hang', () => {
    const rep = fuzz(target, corpus, { count: 5000, seed: 20261129, hangMs: 1000 });
    expect(rep.findings.map((f) => `${f.kind}: ${f.message}`)).toEqual([]);
  });
});

describe('mutator', () => {
  it('is deterministic for a given seed', () => {
    const seeds = [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])];
    const run = (s: number) => {
      const r = new Prng(s);
      return Array.from({ length: 50 }, () => Array.from(nextInput(seeds, r)).join(','));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });
});
