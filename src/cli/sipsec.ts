/**
 * `sipsec <command>`: the user-level command line.
 *
 *   sipsec mikey decode|offer|answer|verify ...   MIKEY messages (see `sipsec mikey`)
 *   sipsec ua --config F register|call|answer ... the reference SIP UA (see docs/SIP.md)
 *   sipsec status|peers|calls|sas|rekey|flush ... ask the daemon (see src/cli/admin.ts)
 */
import { ADMIN_COMMANDS, runAdmin } from './admin.js';
import { runMikey } from './mikey.js';
import { runUa } from './ua.js';

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  mikey: (argv) => runMikey(argv),
  ua: (argv) => runUa(argv),
  ...Object.fromEntries(ADMIN_COMMANDS.map((c) => [c, (argv: string[]) => runAdmin(c, argv)])),
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const run = cmd ? COMMANDS[cmd] : undefined;
  if (!run) {
    process.stderr.write(`usage: sipsec <${Object.keys(COMMANDS).join('|')}> ...\n`);
    return 2;
  }
  return run(rest);
}

process.exitCode = await main(process.argv.slice(2));
