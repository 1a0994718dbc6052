#!/usr/bin/env node
// `npm test`: build, the host unit tests, then the kernel suite inside one lab
// boot (a real kernel with ESP).  Ends with one line "N passed, N failed"
// summing every suite.  A lab that cannot boot is a failure, never a skip.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = resolve(root, '.lab-tmp');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

let passed = 0;
let failed = 0;

// The whole kernel suite runs in one boot; UML is slow: give it an hour unless told otherwise.
const env = { ...process.env, SIPSEC_LAB_TIMEOUT: process.env.SIPSEC_LAB_TIMEOUT ?? '3600' };

function run(label, argv) {
  process.stdout.write(`\n=== ${label} ===\n`);
  const r = spawnSync(argv[0], argv.slice(1), { cwd: root, stdio: 'inherit', env });
  return r.status ?? 1;
}

/** Count a vitest JSON report; a suite that produced no report counts as one failure. */
function count(label, file, status) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    process.stdout.write(`${label}: no report (exit ${status}): counted as failed\n`);
    failed += 1;
    return;
  }
  const brokenFiles = report.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
  passed += report.numPassedTests;
  failed += report.numFailedTests + brokenFiles;
  if (report.numTotalTests === 0) {
    process.stdout.write(`${label}: ran no tests: counted as failed\n`);
    failed += 1;
  }
  if (status !== 0 && report.numFailedTests + brokenFiles === 0) failed += 1;
}

const vitest = resolve(root, 'node_modules/.bin/vitest');
const json = (name) => ['--reporter=default', '--reporter=json', `--outputFile=${resolve(out, name)}`];

if (run('build', ['npx', 'tsc', '-p', 'tsconfig.json']) !== 0 || run('type-check the tests', ['npx', 'tsc', '-p', 'tsconfig.test.json']) !== 0) {
  failed += 1;
} else {
  count('unit', resolve(out, 'unit.json'), run('host unit tests', [vitest, 'run', 'test/unit', ...json('unit.json')]));
  count(
    'kernel',
    resolve(out, 'kernel.json'),
    run('kernel tests in the lab', ['node', 'dist/lab/cli.js', 'test', 'test/kernel', ...json('kernel.json')]),
  );
}

process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exitCode = failed === 0 ? 0 : 1;
