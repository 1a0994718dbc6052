/**
 * `sipsec status|peers|sas|calls|rekey|flush`: ask sipsecd over its socket.
 *
 *   sipsec status [--socket P] [--json]
 *   sipsec peers|calls [--socket P] [--json]
 *   sipsec sas [CALL-ID] [--socket P] [--json]     SAs and their counters (never keys)
 *   sipsec rekey PEER-ADDRESS [--socket P]         ask the UAs of that peer to rekey now
 *   sipsec flush [--socket P]                      remove every SA and policy of sipsecd (admin)
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SOCKET_PATH } from '../agent/config.js';
import { SipsecClient, SipsecClientError } from '../client/client.js';

type Run = (c: SipsecClient, positional: string[]) => Promise<unknown>;

const OPS: Record<string, Run> = {
  status: (c) => c.status(),
  peers: (c) => c.peers(),
  calls: (c) => c.calls(),
  sas: (c, p) => c.sas(p[0]),
  rekey: (c, p) => {
    if (!p[0]) throw new SipsecClientError('usage', 'sipsec rekey PEER-ADDRESS');
    return c.request('rekey', { peer: p[0] });
  },
  flush: (c) => c.flush(),
};

/** Plain-text rendering: one `key: value` line per field, arrays as indented blocks. */
function render(v: unknown, indent = ''): string {
  if (Array.isArray(v)) return v.map((x) => `${indent}-\n${render(x, indent + '  ')}`).join('');
  if (v && typeof v === 'object') {
    return Object.entries(v)
      .map(([k, x]) => (x && typeof x === 'object' ? `${indent}${k}:\n${render(x, indent + '  ')}` : `${indent}${k}: ${String(x)}\n`))
      .join('');
  }
  return `${indent}${String(v)}\n`;
}

export async function runAdmin(cmd: string, argv: string[]): Promise<number> {
  const run = OPS[cmd];
  if (!run) return 2;
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { socket: { type: 'string', default: process.env.SIPSEC_SOCKET ?? DEFAULT_SOCKET_PATH }, json: { type: 'boolean', default: false } },
  });
  let client: SipsecClient | undefined;
  try {
    client = await SipsecClient.connect(values.socket);
    const result = await run(client, positionals);
    process.stdout.write(values.json ? JSON.stringify(result, null, 2) + '\n' : render(result));
    return 0;
  } catch (e) {
    if (e instanceof SipsecClientError) {
      process.stderr.write(`sipsec ${cmd}: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    client?.close();
  }
}
