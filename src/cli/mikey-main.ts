/** Entry for `node dist/cli/mikey-main.js ...` (tests spawn it; `sipsec mikey` calls runMikey). */
import { runMikey } from './mikey.js';

process.exitCode = await runMikey(process.argv.slice(2));
