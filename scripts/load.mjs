#!/usr/bin/env node
// Load figure of issue 8 on the lab kernel: `node scripts/load.mjs [--seconds 60]
// [--clients 1000] [--rate 200] [--peers 100] [--hold-ms 1000]` (build first:
// npm run build).  Runs test/kernel/load.test.ts in one lab boot with these
// parameters (the lab passes no environment of its own, so they go through
// `env`) and prints its LOAD line.  Exit status: the test's.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    clients: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '200' },
    peers: { type: 'string', default: '100' },
    'hold-ms': { type: 'string', default: '1000' },
  },
});
for (const [k, v] of Object.entries(values)) {
  if (!/^\d+$/.test(v)) {
    process.stderr.write(`--${k} needs a non-negative integer\n`);
    process.exit(2);
  }
}
const env = [
  `SIPSEC_LOAD_SECONDS=${values.seconds}`,
  `SIPSEC_LOAD_CLIENTS=${values.clients}`,
  `SIPSEC_LOAD_RATE=${values.rate}`,
  `SIPSEC_LOAD_PEERS=${values.peers}`,
  `SIPSEC_LOAD_HOLD_MS=${values['hold-ms']}`,
];
const r = spawnSync(
  process.execPath,
  [resolve(ROOT, 'dist/lab/cli.js'), 'run', '--', 'env', ...env, resolve(ROOT, 'node_modules/.bin/vitest'), 'run', 'test/kernel/load.test.ts'],
  { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', env: { ...process.env, SIPSEC_LAB_TIMEOUT: String(Number(values.seconds) * 3 + 900) } },
);
process.stdout.write(r.stdout);
const line = r.stdout.split('\n').find((l) => l.includes('LOAD {'));
if (line) process.stdout.write(`\n${line.slice(line.indexOf('LOAD {'))}\n`);
process.exitCode = r.status ?? 1;
