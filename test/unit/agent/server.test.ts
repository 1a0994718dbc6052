import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIN_NEW_PER_TURN } from '../../../src/agent/admission.js';
import { decodePayload, encodeFrame, FrameDecoder } from '../../../src/agent/framing.js';
import { createLogger } from '../../../src/agent/log.js';
import { PhaseStats } from '../../../src/agent/phases.js';
import type { ResultOf } from '../../../src/agent/protocol.js';
import { RequestError, startServer, type Handlers, type ServerOptions, type SipsecServer } from '../../../src/agent/server.js';

let dir: string;
let server: SipsecServer | undefined;
const logLines: string[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sipsec-server-'));
  logLines.length = 0;
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const handlers: Handlers = {
  status: async () => ({ version: 'test', protocol: 1, uptimeSeconds: 1, backend: 'xfrm', calls: 0, sas: 0 }),
  release: async ({ callId }) => {
    if (callId === 'raw') throw new TypeError('secret-internal-detail');
    if (callId === 'slow') await new Promise((r) => setTimeout(r, 2000));
    if (callId === 'typed') throw new RequestError('mikey-rejected', 'bad MAC', { sipStatus: 488, mikeyErr: 5 });
    return { released: true };
  },
};

async function start(opts: Partial<ServerOptions> = {}): Promise<string> {
  const path = join(dir, 'sipsecd.sock');
  server = await startServer({
    path,
    handlers,
    authorize: () => ({ admin: false }),
    log: createLogger({ write: (l) => void logLines.push(l), level: 'debug' }),
    ...opts,
  });
  return path;
}

/** A raw connection that collects decoded frames. */
async function raw(path: string): Promise<{ sock: Socket; frames: Record<string, unknown>[]; next(): Promise<Record<string, unknown>>; closed: Promise<void> }> {
  const sock = createConnection(path);
  await new Promise((r) => sock.once('connect', r));
  const frames: Record<string, unknown>[] = [];
  const dec = new FrameDecoder();
  let waiter: (() => void) | undefined;
  sock.on('data', (c) => {
    for (const p of dec.push(c)) frames.push(decodePayload(p));
    waiter?.();
  });
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  sock.on('error', () => {});
  let taken = 0;
  return {
    sock,
    frames,
    closed,
    async next() {
      while (frames.length <= taken) await new Promise<void>((r) => (waiter = r));
      return frames[taken++]!;
    },
  };
}

describe('socket server', () => {
  it('creates the socket with the configured mode', async () => {
    const path = await start({ mode: 0o660 });
    const st = statSync(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    await server!.close();
    server = await startServer({ path, handlers, authorize: () => ({ admin: false }), mode: 0o600 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('answers requests and passes the caller (SO_PEERCRED) to handlers', async () => {
    let seen: unknown;
    const path = await start({
      handlers: {
        calls: async (_a, ctx) => {
          seen = ctx.caller;
          return { calls: [] };
        },
      },
    });
    const c = await raw(path);
    c.sock.write(encodeFrame({ v: 1, id: 7, op: 'calls', args: {} }));
    expect(await c.next()).toEqual({ v: 1, id: 7, ok: true, result: { calls: [] } });
    expect(seen).toMatchObject({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
  });

  it('stats: page faults always; per-op phases only while timing is on and only to an admin, switched and reset by an admin only', async () => {
    let admin = false;
    const path = await start({
      phases: new PhaseStats(false),
      authorize: () => ({ admin }),
      handlers: {
        calls: async (_a, ctx) => {
          ctx.phases?.lap('kernel');
          return { calls: [] };
        },
      },
    });
    const c = await raw(path);
    const ask = async (id: number, op: string, args: object = {}) => {
      c.sock.write(encodeFrame({ v: 1, id, op, args }));
      return (await c.next()) as { ok: boolean; result: ResultOf<'stats'>; error: { code: string } };
    };
    const off = await ask(1, 'stats');
    expect(off.result).toMatchObject({ pid: process.pid, minorPageFaults: expect.any(Number), rssBytes: expect.any(Number) });
    expect(off.result.phases).toBeUndefined();
    expect((await ask(2, 'stats', { phases: true })).error.code).toBe('forbidden');
    admin = true;
    const a = await raw(path);
    a.sock.write(encodeFrame({ v: 1, id: 1, op: 'stats', args: { phases: true } }));
    expect(await a.next()).toMatchObject({ ok: true });
    await ask(3, 'calls');
    await ask(4, 'calls');
    expect((await ask(5, 'stats')).result.phases).toBeUndefined(); // not an admin: no phase summary
    a.sock.write(encodeFrame({ v: 1, id: 3, op: 'stats', args: {} }));
    const on = ((await a.next()) as { result: ResultOf<'stats'> }).result.phases!;
    expect(on.calls!.total!.n).toBe(2);
    expect(Object.keys(on.calls!).sort()).toEqual(['handler', 'kernel', 'parse', 'queued', 'reply', 'total']);
    for (const x of Object.values(on.calls!)) expect(x.p50).toBeGreaterThanOrEqual(0);
    a.sock.write(encodeFrame({ v: 1, id: 4, op: 'stats', args: { reset: true, phases: false } }));
    expect(((await a.next()) as { result: ResultOf<'stats'> }).result.phases!.calls!.total!.n).toBe(2);
    expect((await ask(6, 'stats')).result.phases).toBeUndefined();
  });

  it('malformed requests get typed errors and the connection keeps working', async () => {
    const path = await start();
    const c = await raw(path);
    const send = (o: unknown): void => void c.sock.write(encodeFrame(o));
    const rawFrame = Buffer.from('{nope');
    const hdr = Buffer.alloc(4);
    hdr.writeUInt32BE(rawFrame.length);
    c.sock.write(Buffer.concat([hdr, rawFrame]));
    expect(await c.next()).toMatchObject({ id: null, ok: false, error: { code: 'bad-json' } });
    send({ v: 1, op: 'ping' });
    expect(await c.next()).toMatchObject({ id: null, ok: false, error: { code: 'bad-request' } });
    send({ v: 2, id: 1, op: 'ping' });
    expect(await c.next()).toMatchObject({ id: 1, ok: false, error: { code: 'unsupported-version', supported: [1] } });
    send({ v: 1, id: 2, op: 'reboot' });
    expect(await c.next()).toMatchObject({ id: 2, ok: false, error: { code: 'unknown-op' } });
    send({ v: 1, id: 3, op: 'release', args: { callId: '' , extra: 1 } });
    const inv = await c.next();
    expect(inv).toMatchObject({ id: 3, ok: false, error: { code: 'invalid-args' } });
    expect((inv.error as { issues: { path: string }[] }).issues.map((i) => i.path).sort()).toEqual(['', 'callId']);
    send({ v: 1, id: 4, op: 'offer', args: { callId: 'x', localUri: 'sip:a@b', peerUri: 'sip:c@d' } });
    expect(await c.next()).toMatchObject({ id: 4, ok: false, error: { code: 'not-implemented' } });
    send({ v: 1, id: 5, op: 'ping' });
    expect(await c.next()).toEqual({ v: 1, id: 5, ok: true, result: { pong: true, protocol: 1 } });
  });

  it('a handler that throws a raw error gives a generic internal error; a RequestError keeps its fields', async () => {
    const path = await start();
    const c = await raw(path);
    c.sock.write(encodeFrame({ v: 1, id: 1, op: 'release', args: { callId: 'raw' } }));
    const r = await c.next();
    expect(r).toEqual({ v: 1, id: 1, ok: false, error: { code: 'internal', message: 'internal error' } });
    expect(JSON.stringify(r)).not.toMatch(/secret-internal-detail/);
    expect(logLines.some((l) => l.includes('handler failed'))).toBe(true);
    c.sock.write(encodeFrame({ v: 1, id: 2, op: 'release', args: { callId: 'typed' } }));
    expect(await c.next()).toEqual({ v: 1, id: 2, ok: false, error: { code: 'mikey-rejected', message: 'bad MAC', sipStatus: 488, mikeyErr: 5 } });
    c.sock.write(encodeFrame({ v: 1, id: 3, op: 'release', args: { callId: 'ok' } }));
    expect(await c.next()).toMatchObject({ id: 3, ok: true, result: { released: true } });
  });

  it('times out a slow handler and limits requests in flight', async () => {
    const path = await start({ limits: { requestTimeoutMs: 150, maxInFlight: 1 } });
    const c = await raw(path);
    c.sock.write(Buffer.concat([
      encodeFrame({ v: 1, id: 1, op: 'release', args: { callId: 'slow' } }),
      encodeFrame({ v: 1, id: 2, op: 'release', args: { callId: 'ok' } }),
      encodeFrame({ v: 1, id: 3, op: 'ping' }),
    ]));
    expect(await c.next()).toMatchObject({ id: 2, ok: false, error: { code: 'busy', retryAfterMs: expect.any(Number) } });
    expect(await c.next()).toMatchObject({ id: 3, ok: true });
    expect(await c.next()).toMatchObject({ id: 1, ok: false, error: { code: 'timeout' } });
  });

  it('answers busy at once when all connections together have maxInFlightTotal requests in flight', async () => {
    const path = await start({ limits: { requestTimeoutMs: 150, maxInFlightTotal: 1 } });
    const c1 = await raw(path);
    const c2 = await raw(path);
    c1.sock.write(encodeFrame({ v: 1, id: 1, op: 'release', args: { callId: 'slow' } }));
    await new Promise((r) => setTimeout(r, 30));
    c2.sock.write(encodeFrame({ v: 1, id: 7, op: 'release', args: { callId: 'ok' } }));
    const busy = await c2.next();
    expect(busy).toMatchObject({ id: 7, ok: false, error: { code: 'busy', message: expect.stringContaining('at capacity') } });
    expect((busy.error as { retryAfterMs: number }).retryAfterMs).toBeGreaterThanOrEqual(50);
    expect(await c1.next()).toMatchObject({ id: 1, ok: false, error: { code: 'timeout' } });
    // Capacity comes back once the slow handler is over (its time-out answered the UA, but its work went on: 2 s).
    await new Promise((r) => setTimeout(r, 2100));
    c2.sock.write(encodeFrame({ v: 1, id: 8, op: 'release', args: { callId: 'ok' } }));
    expect(await c2.next()).toMatchObject({ id: 8, ok: true });
  });

  it('closes a connection that leaves a frame incomplete (slowloris), and keeps serving others', async () => {
    const path = await start({ limits: { partialFrameTimeoutMs: 200 } });
    const slow = await raw(path);
    const f = encodeFrame({ v: 1, id: 1, op: 'ping' });
    slow.sock.write(f.subarray(0, 3));
    const t0 = Date.now();
    const drip = setInterval(() => slow.sock.writable && slow.sock.write(Buffer.alloc(0)), 50);
    await slow.closed;
    clearInterval(drip);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(slow.frames).toEqual([]);
    const ok = await raw(path);
    ok.sock.write(f);
    expect(await ok.next()).toMatchObject({ id: 1, ok: true });
  });

  it('closes a connection announcing an oversized frame, after telling it why', async () => {
    const path = await start();
    const c = await raw(path);
    const h = Buffer.alloc(4);
    h.writeUInt32BE(10 * 1024 * 1024);
    c.sock.write(h);
    expect(await c.next()).toMatchObject({ id: null, ok: false, error: { code: 'frame-too-large' } });
    await c.closed;
    const d = await raw(path);
    d.sock.write(encodeFrame({ v: 1, id: 9, op: 'ping' }));
    expect(await d.next()).toMatchObject({ id: 9, ok: true });
  });

  it('refuses callers authorize() rejects, and connections beyond the limit', async () => {
    const path = await start({ authorize: () => null });
    const c = await raw(path);
    expect(await c.next()).toMatchObject({ id: null, ok: false, error: { code: 'forbidden' } });
    await c.closed;
    await server!.close();
    await start({ limits: { maxConnections: 1 } });
    const a = await raw(path);
    a.sock.write(encodeFrame({ v: 1, id: 1, op: 'ping' }));
    await a.next();
    const b = await raw(path);
    expect(await b.next()).toMatchObject({ id: null, ok: false, error: { code: 'busy', retryAfterMs: expect.any(Number) } });
  });

  it('adapts admission to latency: past the target, new work is refused with a retry hint while releases still pass', async () => {
    const held: (() => void)[] = [];
    let hold = false;
    const path = await start({
      limits: { targetLatencyMs: 50, maxInFlightTotal: 6 },
      handlers: {
        ...handlers,
        status: async () => {
          await new Promise<void>((r) => (hold ? held.push(r) : setTimeout(r, 80)));
          return { version: 'test', protocol: 1, uptimeSeconds: 1, backend: 'xfrm', calls: 0, sas: 0 };
        },
      },
    });
    const c = await raw(path);
    const req = (id: number, op: string, args: object = {}) => c.sock.write(encodeFrame({ v: 1, id, op, args }));
    // Slow answers (80 ms against a 50 ms target) bring the limit from 6 down to its floor of 2.
    for (let id = 1; id <= 8; id++) {
      await new Promise((r) => setTimeout(r, 50)); // at most one decrease per target interval
      req(id, 'status');
      expect(await c.next()).toMatchObject({ id, ok: true });
    }
    hold = true;
    req(20, 'status');
    req(21, 'status');
    while (held.length < 2) await new Promise((r) => setTimeout(r, 5));
    req(22, 'status', { junk: 1 }); // refused before its arguments are even looked at
    req(23, 'release', { callId: 'ok' });
    expect(await c.next()).toMatchObject({ id: 22, ok: false, error: { code: 'busy', retryAfterMs: expect.any(Number) } });
    expect(await c.next()).toMatchObject({ id: 23, ok: true, result: { released: true } });
    for (const r of held) r();
    expect([(await c.next()).id, (await c.next()).id].sort()).toEqual([20, 21]);
  });

  it('queue delay: new work read once the event loop\'s turn has run past queueTargetMs is refused, but the turn\'s first few and urgent work are not', async () => {
    // Connections whose requests are read in the same turn: each status handler holds the loop
    // 60 ms, so the requests read after the first few have waited longer than the 50 ms target.
    const path = await start({
      limits: { queueTargetMs: 50 },
      handlers: {
        ...handlers,
        status: async () => {
          for (const until = performance.now() + 60; performance.now() < until; );
          return { version: 'test', protocol: 1, uptimeSeconds: 1, backend: 'xfrm', calls: 0, sas: 0 };
        },
      },
    });
    const conns = [];
    for (let i = 0; i <= MIN_NEW_PER_TURN; i++) conns.push(await raw(path));
    const frames = Buffer.concat([
      encodeFrame({ v: 1, id: 1, op: 'status' }),
      encodeFrame({ v: 1, id: 2, op: 'release', args: { callId: 'ok' } }),
    ]);
    for (const c of conns) c.sock.write(frames);
    const answers = await Promise.all(conns.map(async (c) => [await c.next(), await c.next()]));
    const byId = (id: number) => answers.map((a) => a.find((f) => f.id === id)!);
    // Whichever connections were read first: MIN_NEW_PER_TURN statuses served, the last one busy.
    const outcomes = byId(1).map((f) => (f.ok ? 'ok' : (f.error as { code: string }).code));
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(MIN_NEW_PER_TURN);
    expect(byId(1).find((f) => !f.ok)).toMatchObject({ error: { code: 'busy', retryAfterMs: expect.any(Number) } });
    // release finishes work already begun: served on all.
    expect(byId(2).every((f) => f.ok)).toBe(true);
  });

  it('delivers events to subscribers of that event only, filtered by audience', async () => {
    const path = await start();
    const a = await raw(path);
    const b = await raw(path);
    const c = await raw(path);
    a.sock.write(encodeFrame({ v: 1, id: 1, op: 'subscribe', args: {} }));
    b.sock.write(encodeFrame({ v: 1, id: 1, op: 'subscribe', args: { events: ['sa-expired'] } }));
    expect(await a.next()).toMatchObject({ id: 1, result: { events: ['rekey-needed', 'sa-expired', 'peer-sas-replaced', 'nat-rebound'] } });
    expect(await b.next()).toMatchObject({ id: 1, result: { events: ['sa-expired'] } });
    expect(server!.publish('rekey-needed', { callId: 'c1', spi: '0x00001000' })).toBe(1);
    expect(await a.next()).toEqual({ v: 1, event: 'rekey-needed', data: { callId: 'c1', spi: '0x00001000' } });
    expect(server!.publish('sa-expired', { spi: '0x2' }, (s) => s.connectionId !== 1)).toBe(1);
    expect(await b.next()).toMatchObject({ event: 'sa-expired' });
    expect(c.frames).toEqual([]);
  });

  it('refuses to start over a live socket or over a file that is not a socket', async () => {
    const path = await start();
    await expect(startServer({ path, handlers, authorize: () => null })).rejects.toThrow(/another daemon/);
    const notSocket = join(dir, 'file');
    writeFileSync(notSocket, 'x');
    await expect(startServer({ path: notSocket, handlers, authorize: () => null })).rejects.toThrow(/not a socket/);
  });
});
