/** The benchmarks, by name.  `lab` says whether one needs the lab kernel. */
import type { BenchResult, BenchSize } from './results.js';

export interface Bench {
  name: string;
  lab: boolean;
  run(size: BenchSize, onProgress: (what: string) => void): Promise<BenchResult>;
}

export const BENCHES: readonly Bench[] = [
  { name: 'sa-install', lab: true, run: async (s, p) => (await import('./sa-install.js')).benchSaInstall(s, p) },
  { name: 'scale', lab: true, run: async (s, p) => (await import('./scale.js')).benchScale(s, p) },
  { name: 'mikey', lab: false, run: async (s, p) => (await import('./mikey.js')).benchMikey(s, p) },
  { name: 'load', lab: true, run: async (s, p) => (await import('./load.js')).benchLoad(s, p) },
  { name: 'versus-ike', lab: true, run: async (s, p) => (await import('./versus-ike.js')).benchVersusIke(s, p) },
  { name: 'call-setup', lab: true, run: async (s, p) => (await import('./call-setup.js')).benchCallSetup(s, p) },
];

export function benchByName(name: string): Bench | undefined {
  return BENCHES.find((b) => b.name === name);
}
