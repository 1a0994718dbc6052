#!/usr/bin/env node
/**
 * Runs one benchmark in this process (inside the lab for the kernel ones):
 * `node dist/bench/inside.js <name> [--size tiny|small|full]`.  Prints the
 * report and writes bench/results/.  Exit 0 when it ran (targets missed are
 * reported, not failures), 1 when it could not run.
 */
import { benchByName } from './registry.js';
import { renderResult, writeResult, type BenchSize } from './results.js';

export function parseArgs(argv: readonly string[]): { name: string; size: BenchSize } {
  const [name, ...rest] = argv;
  let size: BenchSize = 'small';
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--size') {
      const v = rest[++i];
      if (v !== 'tiny' && v !== 'small' && v !== 'full') throw new Error(`--size must be tiny, small or full, not "${v}"`);
      size = v;
    } else throw new Error(`unknown argument "${rest[i]}"`);
  }
  if (!name || !benchByName(name)) throw new Error(`unknown benchmark "${name ?? ''}"`);
  return { name, size };
}

export async function runHere(name: string, size: BenchSize): Promise<number> {
  const b = benchByName(name)!;
  const t0 = Date.now();
  const r = await b.run(size, (what) => process.stderr.write(`[bench ${name} ${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}\n`));
  r.context.kernel = (await import('node:os')).release();
  r.context.lab = process.env.SIPSEC_LAB_KIND ?? 'host';
  process.stdout.write(renderResult(r));
  for (const f of writeResult(r)) process.stdout.write(`wrote ${f}\n`);
  return 0;
}

if (import.meta.filename === process.argv[1]) {
  try {
    const { name, size } = parseArgs(process.argv.slice(2));
    process.exitCode = await runHere(name, size);
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  }
  // Exit even if a lab process we killed left a child holding one of our pipes
  // (kamailio's workers outlive a SIGKILLed main process): the results are written.
  process.exit();
}
