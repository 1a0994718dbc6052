#!/usr/bin/env node
/**
 * `npm run bench -- <name> [--size tiny|small|full]`
 *
 *   sa-install   per-SA install latency: daemon, backend, C baseline, ip, PF_KEY
 *   scale        10 / 100 / 1000 (/ 10000 with --size full) peers: install, lookup, release, RSS
 *   mikey        complete MIKEY exchanges per second on one core (host, no lab)
 *   load         capacity ramp, then 1,000 UA clients per daemon, 200 calls/s across 100 peers for 60 s (--size full): shed, errors, latency, RSS
 *   versus-ike   strongSwan IKEv2-PSK vs sipsec offer/answer/confirm to first protected packet
 *   call-setup   seed 003 fig. 13 ∂1..∂7 with `sipsec ua` through kamailio: clear, PSK, DH, DHHMAC
 *   all          every one of them
 *
 * Kernel benchmarks boot the lab (User-Mode Linux) unless already inside it.
 * Results: a table on stdout, CSV + SVG + text in bench/results/.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { runLabCommand } from '../lab/run.js';
import { parseArgs, runHere } from './inside.js';
import { BENCHES, benchByName } from './registry.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

async function one(name: string, size: string | undefined): Promise<number> {
  const sizeArgs = size ? ['--size', size] : [];
  const { size: s } = parseArgs([name, ...sizeArgs]);
  if (!benchByName(name)!.lab || process.env.SIPSEC_LAB_INSIDE === '1') return runHere(name, s);
  return runLabCommand({
    argv: [process.execPath, '--expose-gc', resolve(ROOT, 'dist/bench/inside.js'), name, ...sizeArgs],
    cwd: ROOT,
    env: { NO_COLOR: '1', TERM: 'dumb' },
    defaultTimeoutSeconds: 1800,
    onOutput: (t, progress) => {
      // In-lab progress lines go to the progress line on a TTY.
      const m = /^\[bench [^\]]*\] (.*)$/.exec(t.trim());
      if (m && process.stderr.isTTY) progress(m[1]!);
      else process.stdout.write(t);
    },
  });
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const name = args[0];
  const i = args.indexOf('--size');
  const size = i >= 0 ? args[i + 1] : undefined;
  if (!name || name === '-h' || name === '--help' || (name !== 'all' && !benchByName(name))) {
    process.stderr.write(readFileSync(import.meta.filename, 'utf8').split('\n').slice(2, 14).map((l) => l.replace(/^ \* ?/, '')).join('\n') + '\n');
    return 2;
  }
  if (name !== 'all') return one(name, size);
  let worst = 0;
  for (const b of BENCHES) worst = Math.max(worst, await one(b.name, size));
  return worst;
}

try {
  process.exitCode = await main();
} catch (e) {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
