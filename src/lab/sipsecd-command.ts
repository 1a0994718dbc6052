/**
 * How the lab, the benchmarks and the lab tests start sipsecd: as systemd
 * starts it, but with the node running now.  The shebang line of
 * `bin/sipsecd.js` is the one place of sipsecd's node flags, the
 * `Environment=` lines of `config/sipsecd.service` the one place of its glibc
 * allocator settings (a fixed-size V8 young generation, a heap that is not
 * given back; docs/PERFORMANCE.md "Where the time goes").
 *
 *   #!/usr/bin/env -S node --flag ...
 *   Environment=NAME=VALUE ...
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const SIPSECD_BIN = resolve(ROOT, 'bin', 'sipsecd.js');
export const SIPSECD_UNIT = resolve(ROOT, 'config', 'sipsecd.service');

export class LaunchError extends Error {
  override readonly name = 'LaunchError';
}

/** argv (this node, the shebang's flags, the bin, `args`) and the environment the unit sets. */
export function sipsecdCommand(args: readonly string[]): { argv: string[]; env: Record<string, string> } {
  const first = readFileSync(SIPSECD_BIN, 'utf8').split('\n', 1)[0]!.trimEnd();
  const m = /^#!\/usr\/bin\/env -S node((?: \S+)*)$/.exec(first);
  if (!m) throw new LaunchError(`${SIPSECD_BIN}: first line is not "#!/usr/bin/env -S node ...": ${first}`);
  const flags = m[1]!.trim().split(/\s+/).filter((w) => w !== '');
  const env: Record<string, string> = {};
  for (const line of readFileSync(SIPSECD_UNIT, 'utf8').split('\n')) {
    if (!line.startsWith('Environment=')) continue;
    for (const w of line.slice('Environment='.length).trim().split(/\s+/)) {
      const eq = w.indexOf('=');
      if (eq <= 0) throw new LaunchError(`${SIPSECD_UNIT}: "${w}" in Environment= is not NAME=VALUE`);
      env[w.slice(0, eq)] = w.slice(eq + 1);
    }
  }
  return { argv: [process.execPath, ...flags, SIPSECD_BIN, ...args], env };
}
