// `node dist/cli/ua-main.js ...`: `sipsec ua` without loading the other commands (fast start in the lab).
import { runUa } from './ua.js';

process.exitCode = await runUa(process.argv.slice(2));
