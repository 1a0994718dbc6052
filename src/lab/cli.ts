#!/usr/bin/env node
/**
 * `npm run lab -- <command>`: run things on a real kernel with ESP.
 *
 *   test [vitest args]     the kernel suite (default test/kernel) inside one lab boot
 *   run [--topology FILE.json --host H [--uid U --gid G]] -- CMD...
 *                          a command in the lab, optionally inside a host of a topology
 *   selftest               per algorithm: install an SA pair, pass traffic, time installs
 *   kernel                 print the lab kernel's version
 *
 * SIPSEC_LAB=uml|native picks the lab (default: native if the host has ESP and we are root).
 * SIPSEC_LAB_TIMEOUT (seconds) bounds the whole boot and job (default 900).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { runLabCommand } from './run.js';
import { createTopology, type TopologySpec } from './topology.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

function usage(): never {
  process.stderr.write(readFileSync(import.meta.filename, 'utf8').split('\n').slice(2, 13).map((l) => l.replace(/^ \* ?/, '')).join('\n') + '\n');
  process.exit(2);
}

function take(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined) usage();
  args.splice(i, 2);
  return v;
}

/** Runs inside the lab: build a topology, run one command in one host, tear down. */
async function insideRun(args: string[]): Promise<number> {
  const dash = args.indexOf('--');
  const opts = args.slice(0, dash < 0 ? args.length : dash);
  const argv = dash < 0 ? [] : args.slice(dash + 1);
  const topo = take(opts, '--topology');
  const host = take(opts, '--host');
  const uid = take(opts, '--uid');
  const gid = take(opts, '--gid');
  if (!topo || !host || argv.length === 0) usage();
  const t = await createTopology(JSON.parse(topo) as TopologySpec);
  try {
    const user = uid !== undefined ? { uid: Number(uid), gid: Number(gid ?? uid) } : undefined;
    const r = await t.exec(host, argv, user ? { user } : {});
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    return r.code;
  } finally {
    await t.destroy();
  }
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === '__inside-run') return insideRun(rest);
  let argv: string[];
  switch (cmd) {
    case 'test':
      argv = [resolve(ROOT, 'node_modules/.bin/vitest'), 'run', '--no-file-parallelism', ...(rest.length ? rest : ['test/kernel'])];
      break;
    case 'run': {
      const dash = rest.indexOf('--');
      if (dash < 0) usage();
      const topo = rest.indexOf('--topology');
      // The guest's /tmp is its own: pass the topology's text, not its path.
      if (topo >= 0 && topo < dash) rest[topo + 1] = readFileSync(rest[topo + 1] ?? usage(), 'utf8');
      argv = topo >= 0 && topo < dash ? [process.execPath, import.meta.filename, '__inside-run', ...rest] : rest.slice(dash + 1);
      break;
    }
    case 'selftest':
      argv = [process.execPath, resolve(ROOT, 'dist/lab/selftest.js'), ...rest];
      break;
    case 'kernel':
      argv = ['true'];
      break;
    default:
      usage();
  }
  return runLabCommand({
    argv,
    cwd: process.cwd(),
    // The guest's console is a terminal; tell tools whether the host's is.
    env: process.stdout.isTTY ? { FORCE_COLOR: '1', TERM: process.env.TERM ?? 'xterm' } : { NO_COLOR: '1', CI: '1', TERM: 'dumb' },
    defaultTimeoutSeconds: 900,
  });
}

process.exitCode = await main();
