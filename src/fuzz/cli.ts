#!/usr/bin/env node
/**
 * `npm run fuzz -- <target|all> [--count N] [--seed S]`: structured mutation
 * fuzzing from the seed corpus in test/fuzz/corpus/<target>/.  Every crash or
 * hang is written to test/fuzz/corpus/<target>/crash-<id> (so `npm test`
 * replays it as a regression case once fixed) and the run exits non-zero.
 * Run with `node --expose-gc` (as npm run fuzz does) for a true memory figure.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fuzz } from './run.js';
import { CORPUS_ROOT, loadCorpus, TARGETS } from './targets.js';

function arg(args: string[], flag: string, dflt: number): number {
  const i = args.indexOf(flag);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isSafeInteger(v) || v < 0) {
    process.stderr.write(`${flag} needs a non-negative integer\n`);
    process.exit(2);
  }
  return v;
}

const args = process.argv.slice(2);
const which = args[0];
if (!which || (which !== 'all' && !(which in TARGETS))) {
  process.stderr.write(`usage: npm run fuzz -- <${Object.keys(TARGETS).join('|')}|all> [--count N] [--seed S]\n`);
  process.exit(2);
}
const count = arg(args, '--count', 1_000_000);
const seed = arg(args, '--seed', Date.now() % 2 ** 31);
let bad = 0;
process.stdout.write('target      inputs    crashes  hangs  slowest ms  heap growth MiB  inputs/s  seed\n');
for (const name of which === 'all' ? Object.keys(TARGETS) : [which]) {
  const seeds = loadCorpus(name);
  const rep = fuzz(TARGETS[name]!, seeds, {
    count,
    seed,
    onProgress: (n) => process.stderr.isTTY && process.stderr.write(`\r${name}: ${n} inputs`),
  });
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
  const crashes = rep.findings.filter((f) => f.kind === 'crash');
  const hangs = rep.findings.filter((f) => f.kind === 'hang');
  process.stdout.write(
    `${name.padEnd(10)} ${String(rep.inputs).padStart(8)} ${String(crashes.length).padStart(9)} ${String(hangs.length).padStart(6)} ` +
      `${rep.slowestMs.toFixed(1).padStart(11)} ${rep.heapGrowthMiB.toFixed(1).padStart(16)} ${Math.round(rep.inputs / rep.seconds).toString().padStart(9)}  ${seed}\n`,
  );
  for (const f of rep.findings) {
    const file = join(CORPUS_ROOT, name, `${f.kind}-${f.id}`);
    writeFileSync(file, f.input);
    process.stdout.write(`  ${f.kind}: ${f.message}\n    saved as ${file}\n`);
  }
  bad += rep.findings.length;
}
process.exitCode = bad ? 1 : 0;
