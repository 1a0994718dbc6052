/**
 * `sipsec <command>`: the user-level command line.
 *
 *   sipsec mikey decode|offer|answer|verify ...   MIKEY messages (see `sipsec mikey`)
 */
import { runMikey } from './mikey.js';

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  mikey: (argv) => runMikey(argv),
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
