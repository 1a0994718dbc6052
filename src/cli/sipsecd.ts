/**
 * `sipsecd`: the privileged SIP-initiated IPsec key daemon.
 *
 *   sipsecd [--config FILE] [--check-config] [--netns NAME] [--log-level L]
 *
 * --config        default /etc/sipsec/sipsecd.yaml
 * --check-config  validate the config (every error with its line) and exit
 * --netns         run the kernel side in network namespace NAME (lab hosts)
 * --log-level     debug|info|warn|error (default info); logs are JSON lines on stderr
 * SIPSECD_PHASES=1 in the environment: time each request's phases (`sipsec stats`)
 *
 * SIGTERM/SIGINT stop the daemon; installed SAs stay in the kernel and are
 * taken back by the next start (calls go on across a restart).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../agent/config.js';
import { startDaemon } from '../agent/daemon.js';
import { createLogger, type LogLevel } from '../agent/log.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string', default: '/etc/sipsec/sipsecd.yaml' },
        'check-config': { type: 'boolean', default: false },
        netns: { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    process.stderr.write(`sipsecd: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split("\n").slice(2, 13).map((l) => l.replace(/^ \* ?/, '')).join('\n') + '\n');
    return 0;
  }
  let config;
  try {
    config = loadConfig(values.config);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (values['check-config']) {
    process.stdout.write(`${values.config}: OK\n`);
    return 0;
  }
  const log = createLogger({ level: values['log-level'] as LogLevel });
  const daemon = await startDaemon({ config, log, version: VERSION, phases: process.env.SIPSECD_PHASES === '1', ...(values.netns ? { netns: values.netns } : {}) });
  log.info('sipsecd started', { version: VERSION, socket: config.socket.path, backend: config.kernel.backend });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await daemon.close();
  log.info('sipsecd stopped');
  return 0;
}

process.exitCode = await main();
