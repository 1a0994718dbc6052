/**
 * `sipsec status|peers|sas|calls|release|rekey|flush-own|stats`: ask sipsecd over its socket.
 *
 *   sipsec status [--socket P] [--json]
 *   sipsec peers|calls [--socket P] [--json]
 *   sipsec sas [CALL-ID] [--socket P] [--json]     SAs and their counters (never keys)
 *   sipsec release CALL-ID [--socket P]            end a call in sipsecd (its owner, or admin)
 *   sipsec rekey PEER-ADDRESS [--socket P]         ask the UAs of that peer to rekey now
 *   sipsec flush-own [--socket P]                  remove every SA and policy of sipsecd, no other (admin)
 *   sipsec stats [reset|phases-on|phases-off] [--socket P] [--json]
 *                                                  page faults, RSS, per-phase request times when on (admin: reset, on/off)
 *
 * Lists are printed as tables (SPIs in hex), other fields as `key: value`; --json prints the result as sent.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SOCKET_PATH } from '../agent/config.js';
import { formatSpi } from '../agent/protocol.js';
import { formatTable } from '../bench/table.js';
import { SipsecClient, SipsecClientError } from '../client/client.js';

type Run = (c: SipsecClient, positional: string[]) => Promise<unknown>;

const OPS: Record<string, Run> = {
  status: (c) => c.status(),
  peers: (c) => c.peers(),
  calls: (c) => c.calls(),
  sas: (c, p) => c.sas(p[0]),
  release: (c, p) => {
    if (!p[0]) throw new SipsecClientError('usage', 'sipsec release CALL-ID');
    return c.release(p[0]);
  },
  rekey: (c, p) => {
    if (!p[0]) throw new SipsecClientError('usage', 'sipsec rekey PEER-ADDRESS');
    return c.request('rekey', { peer: p[0] });
  },
  'flush-own': (c) => c.flush(),
  stats: (c, p) => {
    if (p[0] !== undefined && !['reset', 'phases-on', 'phases-off'].includes(p[0])) throw new SipsecClientError('usage', 'sipsec stats [reset|phases-on|phases-off]');
    return c.stats(p[0] === 'reset' ? { reset: true } : p[0] ? { phases: p[0] === 'phases-on' } : {});
  },
};

/** One table cell: SPIs (numbers in `peers`) in hex, nested values as JSON. */
function cell(key: string, x: unknown): string {
  if (x === undefined) return '';
  if (typeof x === 'number' && /spi$/i.test(key)) return formatSpi(x);
  return x !== null && typeof x === 'object' ? JSON.stringify(x) : String(x);
}

/** Human output: a list of records as a table (columns: their keys), other fields as `key: value` lines. */
export function render(result: unknown): string {
  if (result === null || typeof result !== 'object') return `${String(result)}\n`;
  return Object.entries(result)
    .map(([k, x]) => {
      if (!Array.isArray(x)) return `${k}: ${cell(k, x)}\n`;
      if (x.length === 0) return `${k}: none\n`;
      if (!x.every((r) => r !== null && typeof r === 'object')) return `${k}: ${x.map((r) => cell(k, r)).join(', ')}\n`;
      const rows = x as Record<string, unknown>[];
      const headers = [...new Set(rows.flatMap((r) => Object.keys(r)))];
      return formatTable({ title: `${k}:`, headers, rows: rows.map((r) => headers.map((h) => cell(h, r[h]))) });
    })
    .join('');
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
