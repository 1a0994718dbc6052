/**
 * How the lab, the benchmarks and the lab tests start sipsecd: as its
 * executable `bin/sipsecd.js` starts itself, but with the node running now.
 * The shebang line of that file is the one place where sipsecd's node flags
 * and allocator settings are written (a fixed-size V8 young generation, a
 * glibc heap that is not given back; docs/PERFORMANCE.md "Where the time
 * goes"); systemd's `ExecStart=/usr/bin/sipsecd` runs it through that line.
 *
 *   #!/usr/bin/env -S NAME=VALUE ... node --flag ...
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const SIPSECD_BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'sipsecd.js');

export class LaunchError extends Error {
  override readonly name = 'LaunchError';
}

/** argv (this node, the shebang's flags, the bin, `args`) and the environment additions of the shebang. */
export function sipsecdCommand(args: readonly string[]): { argv: string[]; env: Record<string, string> } {
  const first = readFileSync(SIPSECD_BIN, 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env -S (.*)$/.exec(first);
  if (!m) throw new LaunchError(`${SIPSECD_BIN}: first line is not "#!/usr/bin/env -S ... node ...": ${first}`);
  const words = m[1]!.trim().split(/\s+/);
  const node = words.indexOf('node');
  if (node < 0) throw new LaunchError(`${SIPSECD_BIN}: the shebang runs no node`);
  const env: Record<string, string> = {};
  for (const w of words.slice(0, node)) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new LaunchError(`${SIPSECD_BIN}: "${w}" in the shebang is not NAME=VALUE`);
    env[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return { argv: [process.execPath, ...words.slice(node + 1), SIPSECD_BIN, ...args], env };
}
