// SipsecClient across daemon restarts: a real SipsecServer on a temp Unix
// socket, closed (its socket file removed, its connections cut) and started
// again on the same path.  Lazy reconnect on the next request, eager
// reconnect and re-subscription while subscribed, a `gap` marker in
// events(), requests in flight failing with `connection-lost` and never sent
// again, and the ways the client ends for good.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type Handlers, type SipsecServer } from '../../../src/agent/server.js';
import { SipsecClient, SipsecClientError, type ClientEvent, type ReconnectInfo } from '../../../src/client/client.js';

let dir: string;
let path: string;
let server: SipsecServer | undefined;
let clients: SipsecClient[];
/** Requests each server handled, in order (survives restarts, as the daemon's own log would). */
let handled: string[];
/** Answers of `answer` requests are held until released, to cut the connection while one is in flight. */
let holdAnswers: (() => void)[];

const handlers: Handlers = {
  release: async ({ callId }) => {
    handled.push(`release ${callId}`);
    return { released: true };
  },
  answer: async ({ callId }) => {
    handled.push(`answer ${callId}`);
    await new Promise<void>((r) => holdAnswers.push(r));
    return { mikey: 'AAAA', contentType: 'application/mikey', sas: [] };
  },
};

const start = async (): Promise<SipsecServer> => (server = await startServer({ path, handlers, authorize: () => ({ admin: false }) }));
const stop = async (): Promise<void> => {
  await server?.close();
  server = undefined;
};
const connect = async (opts: Parameters<typeof SipsecClient.connect>[1] = {}): Promise<SipsecClient> => {
  const c = await SipsecClient.connect(path, { reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, ...opts });
  clients.push(c);
  return c;
};
const once = <T>(c: SipsecClient, name: 'reconnected' | 'disconnected' | 'close'): Promise<T> => new Promise((r) => c.once(name, r as never));
const failure = (p: Promise<unknown>): Promise<SipsecClientError> =>
  p.then(
    (r) => {
      throw new Error(`expected a SipsecClientError, got ${JSON.stringify(r)}`);
    },
    (e: SipsecClientError) => e,
  );
const turns = async (n = 20): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

const ANSWER = { callId: 'c1', localUri: 'sip:bob@example.org', peerUri: 'sip:alice@example.org', mikey: 'AAAA', peerAddress: '10.0.0.1', localAddress: '10.0.0.2' };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sipsec-reconnect-'));
  path = join(dir, 'sipsecd.sock');
  clients = [];
  handled = [];
  holdAnswers = [];
  await start();
});
afterEach(async () => {
  for (const c of clients) await c.close();
  for (const r of holdAnswers) r();
  await stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('SipsecClient reconnect', () => {
  it('reconnects lazily: nothing while idle, the next request connects to the restarted daemon', async () => {
    const c = await connect();
    const lost = once<SipsecClientError>(c, 'disconnected');
    await stop();
    expect((await lost).code).toBe('connection-lost');
    expect(c.connected).toBe(false);
    await start();
    await turns();
    expect([c.connected, server!.connectionCount]).toEqual([false, 0]); // not subscribed: no eager reconnect
    const back = once<ReconnectInfo>(c, 'reconnected');
    expect(await c.release('c9')).toEqual({ released: true });
    expect(await back).toMatchObject({ resubscribed: false, reason: 'connection to sipsecd closed' });
    expect(c.connected).toBe(true);
  });

  it('a request made while the daemon is down waits, unsent, and goes out once it is back', async () => {
    const c = await connect();
    await stop();
    const pending = c.release('c2');
    const r = c.request('release', { callId: 'c3' }, { timeoutMs: 5000 });
    await new Promise((res) => setTimeout(res, 100)); // several failed attempts (ENOENT)
    expect(handled).toEqual([]);
    await start();
    expect(await Promise.all([pending, r])).toEqual([{ released: true }, { released: true }]);
    expect(handled).toEqual(['release c2', 'release c3']);
  });

  it('fails a request with connection-closed (and the errno) when the daemon stays away past its timeout', async () => {
    const c = await connect();
    await stop();
    const e = await failure(c.request('release', { callId: 'c4' }, { timeoutMs: 150 }));
    expect([e.code, e.extra.errno, e.extra.op]).toEqual(['connection-closed', 'ENOENT', 'release']);
    expect(e.message).toMatch(/not reachable within 150 ms/);
    // The client is not closed: it works once the daemon is back.
    await start();
    expect(await c.ping()).toMatchObject({ pong: true });
  });

  it('fails a request in flight with connection-lost and never sends it again (answer is not idempotent)', async () => {
    const c = await connect();
    const inFlight = failure(c.answer(ANSWER));
    await turns();
    expect(handled).toEqual(['answer c1']);
    await stop(); // cuts the connection while the daemon works on it
    const e = await inFlight;
    expect([e.code, e.extra.op]).toEqual(['connection-lost', 'answer']);
    expect(e.message).toMatch(/may or may not have been carried out/);
    await start();
    expect(await c.ping()).toMatchObject({ pong: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(handled).toEqual(['answer c1']); // the new daemon never saw it
  });

  it('while subscribed: reconnects at once, subscribes again, marks the gap in events(), and delivers later events', async () => {
    const c = await connect();
    await c.subscribe(['rekey-needed']);
    const it = c.events();
    server!.publish('rekey-needed', { callId: 'c1', spi: '0x00000001' });
    expect((await it.next()).value).toEqual({ event: 'rekey-needed', data: { callId: 'c1', spi: '0x00000001' } });
    await stop();
    await new Promise((r) => setTimeout(r, 60)); // several attempts against a missing socket
    const back = once<ReconnectInfo>(c, 'reconnected');
    const s2 = await start();
    const info = await back; // no request needed
    expect(info.resubscribed).toBe(true);
    expect(info.reconnectedAt).toBeGreaterThanOrEqual(info.lostAt);
    const gap = (await it.next()).value as ClientEvent;
    expect(gap).toEqual({ event: 'gap', data: { lostAt: info.lostAt, reconnectedAt: info.reconnectedAt, reason: info.reason } });
    // Subscribed again to the same events only.
    expect(s2.publish('sa-expired', { spi: '0x2' })).toBe(0);
    expect(s2.publish('rekey-needed', { callId: 'c2', spi: '0x00000003' })).toBe(1);
    expect((await it.next()).value).toEqual({ event: 'rekey-needed', data: { callId: 'c2', spi: '0x00000003' } });
  });

  it('requests queued while reconnecting go out after the re-subscription, in order', async () => {
    const c = await connect();
    await c.subscribe();
    await stop();
    const a = c.release('q1');
    const b = c.release('q2');
    const back = once<ReconnectInfo>(c, 'reconnected');
    await start();
    expect(await Promise.all([a, b])).toEqual([{ released: true }, { released: true }]);
    expect((await back).resubscribed).toBe(true);
    expect(handled).toEqual(['release q1', 'release q2']);
  });

  it('close() while reconnecting stops for good: iterators end, requests fail, no connection to the new daemon', async () => {
    const c = await connect();
    await c.subscribe();
    const it = c.events();
    await stop();
    await new Promise((r) => setTimeout(r, 30));
    await c.close();
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect((await failure(c.ping())).code).toBe('connection-closed');
    const s2 = await start();
    await new Promise((r) => setTimeout(r, 100));
    expect(s2.connectionCount).toBe(0);
  });

  it('reconnect: false closes with the connection', async () => {
    const c = await connect({ reconnect: false });
    const it = c.events();
    const closed = once<SipsecClientError>(c, 'close');
    await stop();
    expect((await closed).code).toBe('connection-closed');
    expect(await it.next()).toEqual({ done: true, value: undefined });
    await start();
    expect((await failure(c.ping())).code).toBe('connection-closed');
  });

  it('a daemon that refuses the user (forbidden) ends the client: no reconnect loop', async () => {
    await stop();
    server = await startServer({ path, handlers, authorize: () => null });
    const c = await connect();
    const closed = once<SipsecClientError>(c, 'close');
    expect((await failure(c.ping())).code).toBe('forbidden');
    expect((await closed).code).toBe('forbidden');
    expect((await failure(c.ping())).code).toBe('forbidden');
  });
});
