import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallOwnership } from '../../../src/agent/authz.js';
import { RequestError, startServer, type SipsecServer } from '../../../src/agent/server.js';
import { SipsecClient, SipsecClientError, type SipsecEvent } from '../../../src/client/client.js';

let dir: string;
let path: string;
let server: SipsecServer;
const owners = new CallOwnership();
const MIKEY_B64 = Buffer.from('mikey message').toString('base64');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sipsec-client-'));
  path = join(dir, 'sipsecd.sock');
  server = await startServer({
    path,
    authorize: (c) => ({ admin: c.uid === 0 }),
    handlers: {
      offer: async (args, ctx) => {
        owners.claim(args.callId, { uid: ctx.caller.uid, admin: ctx.admin });
        return { mikey: MIKEY_B64, contentType: 'application/mikey' };
      },
      answer: async () => {
        throw new RequestError('mikey-rejected', 'authentication failed', { sipStatus: 488, mikey: MIKEY_B64, mikeyErr: 5 });
      },
      confirm: async (args, ctx) => {
        owners.check(args.callId, { uid: ctx.caller.uid, admin: ctx.admin });
        return { sas: [{ direction: 'in', spi: '0x00001234', src: '10.0.0.2', dst: '10.0.0.1', suite: 'aes-gcm-128' }] };
      },
      release: async ({ callId }, ctx) => {
        owners.check(callId, { uid: ctx.caller.uid, admin: ctx.admin });
        owners.release(callId);
        return { released: true };
      },
      calls: async () => new Promise((r) => setTimeout(() => r({ calls: [] }), 500)),
    },
  });
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A request that must fail: its error, or a test failure if it succeeded. */
const unexpected = (r: unknown): never => {
  throw new Error(`expected a SipsecClientError, got ${JSON.stringify(r)}`);
};

describe('SipsecClient', () => {
  it('round-trips typed requests', async () => {
    const c = await SipsecClient.connect(path);
    expect(await c.ping()).toEqual({ pong: true, protocol: 1 });
    const offer = await c.offer({ callId: 'call-1', localUri: 'sip:alice@example.org', peerUri: 'sip:bob@example.org', localAddress: '10.0.0.1' });
    expect(offer).toEqual({ mikey: MIKEY_B64, contentType: 'application/mikey' });
    const confirmed = await c.confirm({ callId: 'call-1', mikey: MIKEY_B64, peerAddress: '10.0.0.2' });
    expect(confirmed.sas[0]!.spi).toBe('0x00001234');
    expect(await c.release('call-1')).toEqual({ released: true });
    await c.close();
  });

  it('pipelines requests and matches answers by id', async () => {
    const c = await SipsecClient.connect(path);
    const results = await Promise.all([c.ping(), c.release('nope').catch((e: SipsecClientError) => e.code), c.ping()]);
    expect(results).toEqual([{ pong: true, protocol: 1 }, 'no-such-call', { pong: true, protocol: 1 }]);
    await c.close();
  });

  it('turns error responses into SipsecClientError with the daemon extra fields', async () => {
    const c = await SipsecClient.connect(path);
    const e = await c
      .answer({ callId: 'c2', localUri: 'sip:bob@example.org', peerUri: 'sip:alice@example.org', mikey: MIKEY_B64, peerAddress: '10.0.0.1', localAddress: '10.0.0.2' })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SipsecClientError);
    const err = e as SipsecClientError;
    expect([err.code, err.message, err.sipStatus, err.mikey, err.mikeyErr]).toEqual(['mikey-rejected', 'authentication failed', 488, MIKEY_B64, 5]);
    const bad = await c.confirm({ callId: 'c2', mikey: 'not base64!', peerAddress: 'nowhere' }).then(unexpected, (x: SipsecClientError) => x);
    expect(bad.code).toBe('invalid-args');
    expect((bad.extra.issues as { path: string }[]).map((i) => i.path).sort()).toEqual(['mikey', 'peerAddress']);
    expect((await c.flush().then(unexpected, (x: SipsecClientError) => x)).code).toBe('not-implemented');
    await c.close();
  });

  it('times out a request the daemon does not answer in time', async () => {
    const c = await SipsecClient.connect(path, { timeoutMs: 100 });
    const e = await c.calls().then(unexpected, (x: SipsecClientError) => x);
    expect(e.code).toBe('timeout');
    expect(await c.ping()).toMatchObject({ pong: true });
    await c.close();
  });

  it('a busy refusal carries the retry hint as retryAfterMs', async () => {
    const busyPath = join(dir, 'busy.sock');
    const busy = await startServer({ path: busyPath, authorize: () => ({ admin: false }), handlers: { calls: () => new Promise(() => {}) }, limits: { maxInFlightTotal: 1 } });
    const c = await SipsecClient.connect(busyPath, { timeoutMs: 200 });
    const first = c.calls().catch(() => undefined);
    const e = await c.calls().then(unexpected, (x: SipsecClientError) => x);
    expect(e.code).toBe('busy');
    expect(e.retryAfterMs).toBeGreaterThanOrEqual(50);
    await first;
    await c.close();
    await busy.close();
  });

  it('delivers subscribed events as EventEmitter events and through events()', async () => {
    const c = await SipsecClient.connect(path);
    expect(await c.subscribe(['rekey-needed'])).toEqual({ events: ['rekey-needed'] });
    const emitted: SipsecEvent[] = [];
    c.on('event', (ev) => emitted.push(ev));
    const it = c.events();
    server.publish('sa-expired', { spi: '0x1' });
    server.publish('rekey-needed', { callId: 'c1', spi: '0x00001000' });
    const first = await it.next();
    expect(first).toEqual({ done: false, value: { event: 'rekey-needed', data: { callId: 'c1', spi: '0x00001000' } } });
    expect(emitted).toEqual([first.value]);
    await c.close();
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('fails pending and later requests when the connection is refused or closed', async () => {
    await expect(SipsecClient.connect(join(dir, 'missing.sock'))).rejects.toMatchObject({ code: 'connection-closed' });
    const denyPath = join(dir, 'deny.sock');
    const deny = await startServer({ path: denyPath, authorize: () => null, handlers: {} });
    const c = await SipsecClient.connect(denyPath);
    const e = await c.ping().then(unexpected, (x: SipsecClientError) => x);
    expect(['forbidden', 'connection-closed']).toContain(e.code);
    expect((await c.ping().then(unexpected, (x: SipsecClientError) => x)).code).toMatch(/forbidden|connection-closed/);
    await deny.close();
  });
});
