// The reference UA outliving a sipsecd restart: alice's UA talks to a real
// SipsecServer (in-memory handlers) on a temp Unix socket through a real
// SipsecClient; the server is closed and started again mid-call.  Her call
// is still released at the new daemon (lazy reconnect on that request), and
// after an event gap (subscribed: eager reconnect) the UA asks the new
// daemon for its calls' SAs and re-INVITEs the ones it no longer keys.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RequestError, startServer, type Handlers, type SipsecServer } from '../../../src/agent/server.js';
import { SipsecClient } from '../../../src/client/client.js';
import { UserAgent, type Keying, type UaEvent, type UaOptions } from '../../../src/sip/ua/agent.js';
import { ManualClock } from '../../../src/sip/ua/clock.js';
import { followDaemon } from '../../../src/sip/ua/daemon-link.js';
import type { Media, MediaFactory } from '../../../src/sip/ua/media.js';
import { TransactionLayer } from '../../../src/sip/ua/transaction.js';
import { MemoryNetwork } from '../../../src/sip/ua/transport.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const SAS = [{ direction: 'out' as const, spi: '0x00001000', src: '10.0.0.1', dst: '10.0.0.2', suite: 'aes-gcm-128' }];

let dir: string;
let path: string;
let server: SipsecServer | undefined;
let client: SipsecClient | undefined;
/** What alice's daemon was asked, across restarts. */
let handled: string[];
/** The calls alice's daemon keys (its durable state: it survives a restart unless a test drops it). */
let keyed: Set<string>;

const handlers: Handlers = {
  offer: async ({ callId }) => {
    handled.push(`offer ${callId}`);
    return { mikey: b64('alice-offer'), contentType: 'application/mikey' };
  },
  confirm: async ({ callId, early }) => {
    handled.push(`confirm ${callId}${early ? ' early' : ''}`);
    keyed.add(callId);
    return { sas: SAS };
  },
  release: async ({ callId }) => {
    handled.push(`release ${callId}`);
    if (!keyed.delete(callId)) throw new RequestError('no-such-call', `no call ${callId}`);
    return { released: true };
  },
  sas: async ({ callId }) => {
    handled.push(`sas ${callId}`);
    if (!keyed.has(callId!)) throw new RequestError('no-such-call', `no call ${callId}`);
    return { sas: SAS };
  },
};

const start = async (): Promise<void> => void (server = await startServer({ path, handlers, authorize: () => ({ admin: false }) }));
const stop = async (): Promise<void> => {
  await server?.close();
  server = undefined;
};

const bobKeying: Keying = {
  offer: async () => ({ mikey: b64('bob-offer') }),
  answer: async () => ({ mikey: b64('bob-answer'), sas: [{}, {}] }),
  confirm: async () => ({ sas: [{}, {}] }),
  release: async () => ({ released: true }),
  prepare: async () => ({ mikey: b64('bob-answer'), sas: [{}, {}] }),
  activate: async () => ({ sas: [{}, {}] }),
} as Keying;

const noMedia: MediaFactory = async (): Promise<Media> => ({
  start: () => {},
  rebind: async () => {},
  stop: () => ({ sent: 0, received: 0, firstSeq: 0, lostAtStart: 0, lostInside: 0 }),
  close: (() => ({ sent: 0, received: 0, firstSeq: 0, lostAtStart: 0, lostInside: 0 })) as never,
});

const opts: UaOptions = { uri: 'sip:x@example.org', ipsec: true, fallback: 'refuse', multipart: true, mediaPort: 40000, expires: 300 };

/** Wait (real time: the daemon is across a socket) until `cond` holds. */
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function callSetup() {
  client = await SipsecClient.connect(path, { reconnect: { initialDelayMs: 10, maxDelayMs: 50 } });
  const net = new MemoryNetwork();
  const clock = new ManualClock();
  const events: UaEvent[] = [];
  const log = (e: UaEvent): void => void events.push(e);
  const alice = new UserAgent(new TransactionLayer(net.attach('10.0.0.1', 5060), clock), { ...opts, uri: 'sip:alice@example.org' }, client, noMedia, log);
  new UserAgent(new TransactionLayer(net.attach('10.0.0.2', 5060), clock), { ...opts, uri: 'sip:bob@example.org' }, bobKeying, noMedia, () => {});
  return { alice, events, log };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sipsec-ua-restart-'));
  path = join(dir, 'sipsecd.sock');
  handled = [];
  keyed = new Set();
  await start();
});
afterEach(async () => {
  await client?.close();
  client = undefined;
  await stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('UA across a sipsecd restart', () => {
  it('releases a call set up before the restart at the restarted daemon', async () => {
    const { alice, events } = await callSetup();
    const c = await alice.call('sip:bob@10.0.0.2');
    expect(await c.established).toBe(true);
    expect(handled).toEqual([`offer ${c.callId}`, `confirm ${c.callId} early`, `confirm ${c.callId}`]); // bob's 183, then his 200 OK
    await stop();
    await start();
    const out = await alice.hangup(c.callId);
    expect(out).toMatchObject({ ok: true, status: 200 });
    expect(handled).toEqual([`offer ${c.callId}`, `confirm ${c.callId} early`, `confirm ${c.callId}`, `release ${c.callId}`]);
    expect(events.find((e) => e.event === 'released')).toMatchObject({ callId: c.callId, released: true });
    expect(keyed.size).toBe(0);
  });

  it('after an event gap, re-INVITEs the calls the restarted daemon no longer keys', async () => {
    const { alice, events, log } = await callSetup();
    await client!.subscribe(['rekey-needed']);
    followDaemon(alice, client!, log);
    const kept = await alice.call('sip:bob@10.0.0.2');
    const lost = await alice.call('sip:bob@10.0.0.2');
    expect([await kept.established, await lost.established]).toEqual([true, true]);
    await stop();
    keyed.delete(lost.callId); // the new daemon has no SAs for this one
    handled.length = 0;
    await start(); // no request from the UA: the subscribed client reconnects by itself
    await until(() => events.some((e) => e.event === 'rekey-done'));
    expect(events.find((e) => e.event === 'sipsecd-reconnected')).toMatchObject({ resubscribed: true });
    expect(handled.sort()).toEqual([`confirm ${lost.callId}`, `offer ${lost.callId}`, `sas ${kept.callId}`, `sas ${lost.callId}`].sort());
    expect(events.filter((e) => e.event === 'resync-rekey').map((e) => e.callId)).toEqual([lost.callId]);
    expect(keyed).toEqual(new Set([kept.callId, lost.callId]));
  });
});
