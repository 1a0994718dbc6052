/**
 * `sipsec <command>`: the user-level command line.
 *
 *   sipsec mikey decode|offer|answer|verify ...   MIKEY messages (see `sipsec mikey`)
 *   sipsec ua --config F register|call|answer ... the reference SIP UA (see docs/SIP.md)
 *   sipsec status|peers|calls|sas|release|rekey|flush-own|stats ... ask the daemon (see src/cli/admin.ts)
 */

// Each command's module is loaded only when it runs (node-forge and the SIP
// stack cost seconds of start-up in the lab, and nothing when not used).
const ADMIN_COMMANDS = ['status', 'peers', 'calls', 'sas', 'release', 'rekey', 'flush-own', 'stats'];

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  mikey: async (argv) => (await import('./mikey.js')).runMikey(argv),
  ua: async (argv) => (await import('./ua.js')).runUa(argv),
  ...Object.fromEntries(ADMIN_COMMANDS.map((c) => [c, async (argv: string[]) => (await import('./admin.js')).runAdmin(c, argv)])),
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
