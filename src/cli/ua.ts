/**
 * `sipsec ua`: the reference SIP user agent (docs/SIP.md).
 *
 *   sipsec ua --config F register
 *   sipsec ua --config F call URI [--duration S] [--rekey-after S] [--calls N] [--cancel-after MS]
 *   --cancel-after MS on call: cancel each call MS ms after dialling unless answered by then
 *   (CANCEL once it rings, RFC 3261 §9.1); exit 0 when each was cancelled (487)
 *   sipsec ua --config F answer [--count N] [--timeout S] [--ring S]
 *   --ring S on answer: ring S seconds (after 180) before accepting, as a user picking up (default 0)
 *   --timeline on call/answer: also a {"event": "timeline", "mark": ..., "at": <epoch ms>}
 *   line per call-setup instant (CallMark; `npm run bench -- call-setup` reads them)
 *   sipsec ua rekey --pid P         ask a running UA to re-INVITE all its calls (SIGUSR1)
 *   sipsec ua move --pid P          the host's address changed: the running UA re-reads `address`
 *                                   from its config, listens there and re-INVITEs its calls (SIGUSR2)
 *
 * Events are JSON lines on stdout: {"t": <epoch ms, µs precision>, "event": ..., "callId": ...}.
 * Exit 0 when every call was set up (and, for call, hung up) as asked.
 */
import { parseArgs } from 'node:util';
import { SipsecClient } from '../client/client.js';
import { UserAgent, type CallOutcome, type Keying, type UaEvent } from '../sip/ua/agent.js';
import { realClock } from '../sip/ua/clock.js';
import { loadUaConfig, UaConfigError } from '../sip/ua/config.js';
import { udpMedia } from '../sip/ua/media.js';
import { TransactionLayer } from '../sip/ua/transaction.js';
import { NodeTransport } from '../sip/ua/transport.js';
import { followDaemon } from '../sip/ua/daemon-link.js';

const USAGE = 'usage: sipsec ua --config F [--timeline] register | call URI [--duration S] [--rekey-after S] [--calls N] [--cancel-after MS] | answer [--count N] [--timeout S] [--ring S] | rekey --pid P | move --pid P\n';

/** Epoch ms, µs precision, of a performance.now() reading. */
const epochMs = (perfNow: number): number => Math.round((performance.timeOrigin + perfNow) * 1000) / 1000;
const now = (): number => epochMs(performance.now());

/** Without IPsec the UA never asks sipsecd for anything. */
const noKeying: Keying = {
  offer: () => Promise.reject(new Error('ipsec is off')),
  answer: () => Promise.reject(new Error('ipsec is off')),
  prepare: () => Promise.reject(new Error('ipsec is off')),
  activate: () => Promise.reject(new Error('ipsec is off')),
  confirm: () => Promise.reject(new Error('ipsec is off')),
  release: async () => ({ released: false }),
};

const sleep = (s: number): Promise<void> => new Promise((r) => setTimeout(r, s * 1000));

export async function runUa(argv: string[]): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        duration: { type: 'string', default: '3' },
        'rekey-after': { type: 'string' },
        'cancel-after': { type: 'string' },
        count: { type: 'string', default: '1' },
        calls: { type: 'string', default: '1' },
        timeline: { type: 'boolean', default: false },
        timeout: { type: 'string', default: '60' },
        ring: { type: 'string', default: '0' },
        pid: { type: 'string' },
      },
    }));
  } catch (e) {
    process.stderr.write(`sipsec ua: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const [cmd, target] = positionals;
  if (cmd === 'rekey' || cmd === 'move') {
    if (!values.pid) return usage();
    process.kill(Number(values.pid), cmd === 'rekey' ? 'SIGUSR1' : 'SIGUSR2');
    return 0;
  }
  if (!values.config || !['register', 'call', 'answer'].includes(cmd ?? '') || (cmd === 'call' && !target)) return usage();
  const cancelAfterMs = values['cancel-after'] === undefined ? undefined : Number(values['cancel-after']);
  if (cancelAfterMs !== undefined && !(cancelAfterMs >= 0)) return usage();
  const ringMs = Number(values.ring) * 1000;
  if (!(ringMs >= 0)) return usage();
  let cfg;
  try {
    cfg = loadUaConfig(values.config);
  } catch (e) {
    process.stderr.write(`sipsec ua: ${e instanceof UaConfigError ? e.message : (e as Error).message}\n`);
    return 2;
  }
  const log = (e: UaEvent): void => {
    process.stdout.write(`${JSON.stringify({ t: now(), ua: cfg.options.uri, ...e })}\n`);
  };
  const transport = await NodeTransport.listen(cfg.address, cfg.port);
  transport.onError = (detail) => log({ event: 'transport-error', detail });
  const layer = new TransactionLayer(transport, realClock);
  let client: SipsecClient | undefined;
  if (cfg.options.ipsec && cmd !== 'register') client = await SipsecClient.connect(cfg.socket, { timeoutMs: 60_000 }); // sipsecd under UML can take seconds
  const ua = new UserAgent(layer, { ...cfg.options, ringMs }, client ?? noKeying, udpMedia(cfg.mediaRate), log);
  if (values.timeline) ua.timeline = (mark, callId, at) => log({ event: 'timeline', callId, mark, at: epochMs(at) });
  const rekeyAll = (): void => {
    for (const id of ua.activeCalls()) void ua.rekey(id);
  };
  process.on('SIGUSR1', rekeyAll);
  // Mobility: the new address comes from the config file (a signal carries no data).
  const moveAll = async (): Promise<void> => {
    try {
      const address = loadUaConfig(values.config!).address;
      await transport.rebind(address);
      await ua.move();
    } catch (e) {
      log({ event: 'move-failed', detail: (e as Error).message });
    }
  };
  process.on('SIGUSR2', () => void moveAll());
  if (client) {
    await client.subscribe(['rekey-needed']);
    followDaemon(ua, client, log);
  }
  log({ event: 'ua-start', command: cmd, sip: `${transport.local.address}:${transport.local.port}` });
  try {
    if (cfg.register || cmd === 'register') {
      const status = await ua.register();
      if (status < 200 || status >= 300) return 1;
      if (cmd === 'register') return 0;
    }
    if (cmd === 'call') {
      // --calls N: one call after the other, each hung up before the next.
      let ok = true;
      for (let i = 0; i < Number(values.calls); i++) {
        const c = await ua.call(target!);
        if (cancelAfterMs !== undefined) {
          const timer = setTimeout(() => void ua.cancel(c.callId), cancelAfterMs);
          const answered = await c.established; // or ended: cancelled, refused, failed
          clearTimeout(timer);
          if (answered) await ua.hangup(c.callId); // answered before the cancel
          ok &&= !answered && (await c.done).status === 487;
          continue;
        }
        if (!(await c.established)) {
          ok &&= (await c.done).ok;
          continue;
        }
        if (values['rekey-after'] !== undefined) {
          await sleep(Number(values['rekey-after']));
          await ua.rekey(c.callId);
        }
        await sleep(Number(values.duration));
        ok &&= ((await ua.hangup(c.callId)) as CallOutcome).ok;
      }
      return ok ? 0 : 1;
    }
    const count = Number(values.count);
    const outcomes: CallOutcome[] = [];
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => {
        ua.onIncoming = (done) => {
          void done.then((o) => {
            outcomes.push(o);
            if (outcomes.length >= count) resolve();
          });
        };
      }),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, Number(values.timeout) * 1000))),
    ]);
    clearTimeout(timer);
    if (outcomes.length < count) log({ event: 'answer-timeout', calls: outcomes.length, wanted: count });
    return outcomes.length >= count && outcomes.every((o) => o.ok) ? 0 : 1;
  } finally {
    if (cfg.register && cmd !== 'register') await ua.register(0).catch(() => 0);
    // Let the last responses and ACK retransmissions out, then close.
    await sleep(0.2);
    await client?.close();
    await transport.close();
    log({ event: 'ua-exit' });
  }
}

function usage(): number {
  process.stderr.write(USAGE);
  return 2;
}
