/**
 * Client of the sipsecd control socket, for UAs written in TypeScript
 * (docs/PROTOCOL.md describes the wire format for others; §8 this client's
 * reconnect rules).
 *
 *   const c = await SipsecClient.connect('/run/sipsec/sipsecd.sock');
 *   const { mikey } = await c.offer({ callId, localUri, peerUri });
 *   await c.subscribe(['rekey-needed']);
 *   for await (const ev of c.events()) ...   // ev.event === 'gap': resync
 *
 * Requests carry increasing ids and may be pipelined; each has a timeout
 * that covers (re)connecting too.  Failures are `SipsecClientError`s.
 *
 * Reconnect (a daemon restart, a dropped connection):
 *   - a request sent on a connection that drops before its answer fails
 *     with `connection-lost`: the daemon may or may not have carried it out,
 *     and the client never sends it again (offer, answer, confirm are not
 *     idempotent: the UA decides);
 *   - a request made while disconnected waits, unsent, while the client
 *     reconnects (lazily: only then), with a doubling delay between attempts
 *     up to `maxDelayMs`; if its timeout passes first it fails with
 *     `connection-closed` and the last connect error;
 *   - while subscribed the client reconnects at once (eagerly), subscribes
 *     again to the same events, then emits `reconnected` and gives every
 *     `events()` iterator a `gap` event: events may have been lost since
 *     `lostAt`, re-read the state (`calls`, `sas`) that they would have told;
 *   - a `forbidden` refusal, `close()`, or `reconnect: false` end the client
 *     for good: `close` is emitted, iterators end, requests fail.
 */
import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { decodePayload, encodeFrame, FrameDecoder, FramingError, MAX_FRAME_BYTES } from '../agent/framing.js';
import { EVENT_NAMES, PROTOCOL_VERSION, type ArgsOf, type EventName, type Op, type ResultOf, type SipsecEvent } from '../agent/protocol.js';
import { SipsecClientError } from './errors.js';

export { SipsecClientError } from './errors.js';
export type { ArgsOf, ResultOf, SipsecEvent, EventName, Op } from '../agent/protocol.js';

/** A request's timeout unless the connection or the request says otherwise: 15 s (the daemon's own is 10 s). */
export const DEFAULT_TIMEOUT_MS = 15_000;

export interface ReconnectOptions {
  /** Delay before the second connection attempt (the first is immediate); doubles after each failure.  Default 50 ms. */
  readonly initialDelayMs?: number;
  /** Upper bound of that delay.  Default 2 s. */
  readonly maxDelayMs?: number;
}

export interface ConnectOptions {
  /** Default per-request timeout, reconnecting included; default DEFAULT_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Give up one connection attempt after this long; default 5 s. */
  readonly connectTimeoutMs?: number;
  /** How to reconnect after the connection drops; `false`: never (the client closes with its connection). */
  readonly reconnect?: ReconnectOptions | false;
}

/** The connection was down and is back; while subscribed, events of the interval may be lost. */
export interface ReconnectInfo {
  /** Epoch ms at which the connection was found lost. */
  readonly lostAt: number;
  /** Epoch ms at which the new connection was ready (subscribed again when `resubscribed`). */
  readonly reconnectedAt: number;
  /** Why it was lost. */
  readonly reason: string;
  /** The client was subscribed and is again, to the same events. */
  readonly resubscribed: boolean;
}

/** Yielded by `events()` after a reconnect while subscribed: events may have been missed in between. */
export interface EventGap {
  readonly event: 'gap';
  readonly data: Omit<ReconnectInfo, 'resubscribed'>;
}

export type ClientEvent = SipsecEvent | EventGap;

interface Pending {
  readonly op: Op;
  readonly frame: Buffer;
  resolve(v: unknown): void;
  reject(e: SipsecClientError): void;
  timer: NodeJS.Timeout;
}

/** One socket to the daemon and the requests sent on it. */
interface Connection {
  readonly sock: Socket;
  readonly decoder: FrameDecoder;
  readonly pending: Map<number, Pending>;
  /** Why it ended (set once, from the first of error frame, socket error, close). */
  lost?: SipsecClientError;
}

export class SipsecClient extends EventEmitter<{
  event: [SipsecEvent];
  /** The connection dropped; requests in flight failed with `connection-lost`.  A reconnect follows. */
  disconnected: [SipsecClientError];
  reconnected: [ReconnectInfo];
  /** The client ended for good (close(), forbidden, or reconnect off). */
  close: [SipsecClientError];
}> {
  readonly #path: string;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #reconnect: Required<ReconnectOptions> | false;
  #conn: Connection | undefined;
  /** Requests waiting, unsent, for a connection. */
  readonly #queue = new Map<number, Pending>();
  #nextId = 1;
  #closedBy: SipsecClientError | undefined;
  /** The accepted subscription (undefined list: all events), renewed on every new connection. */
  #subscription: { events: readonly EventName[] | undefined } | undefined;
  #connecting: Promise<void> | undefined;
  #backoff: { timer: NodeJS.Timeout; wake(): void } | undefined;
  /** Set while disconnected. */
  #lost: { at: number; reason: string; subscribed: boolean } | undefined;
  #lastConnectError: SipsecClientError | undefined;

  private constructor(path: string, sock: Socket, options: ConnectOptions) {
    super();
    this.#path = path;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#reconnect = options.reconnect === false ? false : { initialDelayMs: 50, maxDelayMs: 2_000, ...options.reconnect };
    this.#attach(sock);
  }

  /** Connect (once: a daemon not there now is an error); later drops are reconnected as `options.reconnect` says. */
  static async connect(path: string, options: ConnectOptions = {}): Promise<SipsecClient> {
    return new SipsecClient(path, await openSocket(path, options.connectTimeoutMs ?? 5_000), options);
  }

  /** A connection to the daemon is up now. */
  get connected(): boolean {
    return this.#conn !== undefined;
  }

  /** Send one request; resolves with its result or rejects with SipsecClientError. */
  request<O extends Op>(op: O, args: ArgsOf<O>, options: { timeoutMs?: number } = {}): Promise<ResultOf<O>> {
    if (this.#closedBy) return Promise.reject(this.#closedBy);
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0x7fffffff ? 1 : this.#nextId + 1;
    let frame: Buffer;
    try {
      frame = encodeFrame({ v: PROTOCOL_VERSION, id, op, args });
    } catch (e) {
      return Promise.reject(new SipsecClientError('frame-too-large', (e as Error).message));
    }
    return new Promise<ResultOf<O>>((resolve, reject) => {
      const ms = options.timeoutMs ?? this.#timeoutMs;
      const p: Pending = {
        op,
        frame,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer: setTimeout(() => {
          if (this.#queue.delete(id)) {
            const last = this.#lastConnectError ? `: ${this.#lastConnectError.message}` : '';
            reject(new SipsecClientError('connection-closed', `${op}: sipsecd not reachable within ${ms} ms${last}`, { op, ...this.#lastConnectError?.extra }));
            return;
          }
          this.#conn?.pending.delete(id);
          reject(new SipsecClientError('timeout', `${op}: no answer from sipsecd within ${ms} ms`, { op }));
        }, ms),
      };
      if (this.#conn && this.#queue.size === 0) this.#send(this.#conn, id, p);
      else {
        // Behind the requests still waiting (a reconnect finishing): they go out first, in order.
        this.#queue.set(id, p);
        this.#startReconnect();
      }
    });
  }

  offer(args: ArgsOf<'offer'>): Promise<ResultOf<'offer'>> {
    return this.request('offer', args);
  }
  answer(args: ArgsOf<'answer'>): Promise<ResultOf<'answer'>> {
    return this.request('answer', args);
  }
  prepare(args: ArgsOf<'prepare'>): Promise<ResultOf<'prepare'>> {
    return this.request('prepare', args);
  }
  activate(callId: string): Promise<ResultOf<'activate'>> {
    return this.request('activate', { callId });
  }
  confirm(args: ArgsOf<'confirm'>): Promise<ResultOf<'confirm'>> {
    return this.request('confirm', args);
  }
  release(callId: string): Promise<ResultOf<'release'>> {
    return this.request('release', { callId });
  }
  status(): Promise<ResultOf<'status'>> {
    return this.request('status', {});
  }
  peers(): Promise<ResultOf<'peers'>> {
    return this.request('peers', {});
  }
  sas(callId?: string): Promise<ResultOf<'sas'>> {
    return this.request('sas', callId === undefined ? {} : { callId });
  }
  calls(): Promise<ResultOf<'calls'>> {
    return this.request('calls', {});
  }
  flush(): Promise<ResultOf<'flush'>> {
    return this.request('flush', {});
  }
  ping(): Promise<ResultOf<'ping'>> {
    return this.request('ping', {});
  }
  stats(args: ArgsOf<'stats'> = {}): Promise<ResultOf<'stats'>> {
    return this.request('stats', args);
  }
  /**
   * Ask for events (all when `events` is omitted); they arrive as 'event' and
   * through `events()`.  Once accepted, the subscription is renewed on every
   * reconnect.
   */
  async subscribe(events?: readonly EventName[]): Promise<ResultOf<'subscribe'>> {
    const list = events === undefined ? undefined : [...events];
    const r = await this.request('subscribe', list === undefined ? {} : { events: list });
    this.#subscription = { events: list };
    return r;
  }

  /** Events as an async iterator, with a `gap` after each reconnect while subscribed; it ends when the client closes. */
  events(): AsyncIterableIterator<ClientEvent> {
    const queue: ClientEvent[] = [];
    let wake: (() => void) | undefined;
    let done = this.#closedBy !== undefined;
    const onEvent = (ev: ClientEvent): void => {
      queue.push(ev);
      wake?.();
    };
    const onReconnect = ({ resubscribed, ...data }: ReconnectInfo): void => {
      if (resubscribed) onEvent({ event: 'gap', data });
    };
    const onClose = (): void => {
      done = true;
      wake?.();
    };
    const stop = (): void => {
      done = true;
      this.off('event', onEvent);
      this.off('reconnected', onReconnect);
      this.off('close', onClose);
      wake?.();
    };
    this.on('event', onEvent);
    this.on('reconnected', onReconnect);
    this.on('close', onClose);
    const it: AsyncIterableIterator<ClientEvent> = {
      next: async () => {
        while (queue.length === 0 && !done) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const value = queue.shift();
        if (value !== undefined) return { value, done: false };
        stop();
        return { value: undefined, done: true };
      },
      return: async () => {
        stop();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  /** End the client for good: no more reconnects; requests waiting or in flight fail with `connection-closed`. */
  close(): Promise<void> {
    const conn = this.#conn;
    this.#shutdown(new SipsecClientError('connection-closed', 'the client was closed'));
    if (!conn || conn.sock.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      conn.sock.once('close', () => resolve());
      conn.sock.end();
      setTimeout(() => conn.sock.destroy(), 1000).unref();
    });
  }

  #send(conn: Connection, id: number, p: Pending): void {
    conn.pending.set(id, p);
    conn.sock.write(p.frame, (err) => {
      // Not written (the daemon had closed: EPIPE): it never got it, so it waits for the next connection.
      if (!err || conn.pending.get(id) !== p || this.#closedBy) return;
      conn.pending.delete(id);
      this.#queue.set(id, p);
    });
  }

  #attach(sock: Socket): Connection {
    const conn: Connection = { sock, decoder: new FrameDecoder(MAX_FRAME_BYTES), pending: new Map() };
    this.#conn = conn;
    sock.on('data', (chunk: Buffer) => this.#onData(conn, chunk));
    sock.on('error', (e) => this.#drop(conn, new SipsecClientError('connection-lost', `socket error: ${e.message}`)));
    sock.on('close', () => this.#drop(conn, new SipsecClientError('connection-lost', 'connection to sipsecd closed')));
    return conn;
  }

  #onData(conn: Connection, chunk: Buffer): void {
    try {
      for (const payload of conn.decoder.push(chunk)) this.#onFrame(conn, decodePayload(payload));
    } catch (e) {
      const message = e instanceof FramingError ? e.message : String(e);
      this.#drop(conn, new SipsecClientError('protocol', `unreadable data from sipsecd: ${message}`));
    }
  }

  #onFrame(conn: Connection, msg: Record<string, unknown>): void {
    if (conn.lost) return;
    if (typeof msg.event === 'string') {
      if ((EVENT_NAMES as readonly string[]).includes(msg.event)) this.emit('event', { event: msg.event, data: msg.data } as SipsecEvent);
      return;
    }
    const error = msg.ok === false ? toError(msg.error) : undefined;
    if (msg.id === null && error) {
      // Not tied to a request (refused connection, framing error): the daemon closes; everything sent on it fails with it.
      this.#drop(conn, error);
      return;
    }
    const p = typeof msg.id === 'number' ? conn.pending.get(msg.id) : undefined;
    if (!p) return; // answer to a request that already timed out
    conn.pending.delete(msg.id as number);
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(msg.result);
  }

  /** A connection ended: fail what was sent on it, then reconnect (eagerly while subscribed) or close for good. */
  #drop(conn: Connection, reason: SipsecClientError): void {
    if (conn.lost) return;
    conn.lost = reason;
    conn.sock.destroy();
    for (const [id, p] of conn.pending) {
      clearTimeout(p.timer);
      p.reject(
        reason.code === 'connection-lost'
          ? new SipsecClientError('connection-lost', `${p.op}: ${reason.message} before the answer; it may or may not have been carried out`, { op: p.op, id })
          : reason,
      );
    }
    conn.pending.clear();
    if (this.#conn !== conn || this.#closedBy) return;
    this.#conn = undefined;
    if (this.#reconnect === false || reason.code === 'forbidden') {
      this.#shutdown(reason.code === 'connection-lost' ? new SipsecClientError('connection-closed', reason.message) : reason);
      return;
    }
    if (this.#lost === undefined) {
      this.#lost = { at: Date.now(), reason: reason.message, subscribed: this.#subscription !== undefined };
      this.emit('disconnected', reason);
    }
    if (this.#subscription || this.#queue.size > 0) this.#startReconnect();
  }

  /** Connect again, with backoff, while a request waits or a subscription wants events. */
  #startReconnect(): void {
    if (this.#connecting || this.#conn || this.#closedBy || this.#reconnect === false) return;
    const { initialDelayMs, maxDelayMs } = this.#reconnect;
    const wanted = (): boolean => !this.#closedBy && (this.#queue.size > 0 || this.#subscription !== undefined);
    this.#connecting = (async () => {
      let delay = initialDelayMs;
      while (wanted()) {
        let sock: Socket;
        try {
          sock = await openSocket(this.#path, this.#connectTimeoutMs);
        } catch (e) {
          this.#lastConnectError = e as SipsecClientError;
          await this.#sleep(delay);
          delay = Math.min(2 * delay, maxDelayMs);
          continue;
        }
        if (this.#closedBy) {
          sock.destroy();
          return;
        }
        this.#lastConnectError = undefined;
        const conn = this.#attach(sock);
        if (await this.#resume(conn)) return;
        await this.#sleep(delay); // the new connection failed at once: not in a tight loop
        delay = Math.min(2 * delay, maxDelayMs);
      }
    })().finally(() => (this.#connecting = undefined));
  }

  /** On a new connection: subscribe again, send what waited, tell listeners.  False if the connection failed meanwhile. */
  async #resume(conn: Connection): Promise<boolean> {
    const sub = this.#subscription;
    if (sub) {
      // Directly on this connection, ahead of the waiting requests, so that no event after the gap marker is missed.
      const ok = await new Promise<boolean>((resolve) => {
        const id = this.#nextId;
        this.#nextId = this.#nextId >= 0x7fffffff ? 1 : this.#nextId + 1;
        const args = sub.events === undefined ? {} : { events: [...sub.events] };
        const timer = setTimeout(() => {
          conn.pending.delete(id);
          this.#drop(conn, new SipsecClientError('timeout', 'subscribe: no answer from sipsecd after reconnecting'));
          resolve(false);
        }, this.#timeoutMs);
        this.#send(conn, id, { op: 'subscribe', frame: encodeFrame({ v: PROTOCOL_VERSION, id, op: 'subscribe', args }), resolve: () => resolve(true), reject: () => resolve(false), timer });
      });
      if (!ok) {
        this.#drop(conn, new SipsecClientError('connection-lost', 'subscribing again failed'));
        return false;
      }
    }
    if (conn.lost || this.#conn !== conn) return false;
    for (const [id, p] of this.#queue) this.#send(conn, id, p);
    this.#queue.clear();
    const lost = this.#lost;
    this.#lost = undefined;
    if (lost) this.emit('reconnected', { lostAt: lost.at, reconnectedAt: Date.now(), reason: lost.reason, resubscribed: sub !== undefined && lost.subscribed });
    return true;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#backoff = undefined;
        resolve();
      }, ms);
      // Lazily (a request waits): the request's own timer keeps the process alive, not this one.
      if (!this.#subscription) timer.unref();
      this.#backoff = { timer, wake: resolve };
    });
  }

  #shutdown(reason: SipsecClientError): void {
    if (this.#closedBy) return;
    this.#closedBy = reason;
    if (this.#backoff) {
      clearTimeout(this.#backoff.timer);
      this.#backoff.wake();
      this.#backoff = undefined;
    }
    const conn = this.#conn;
    this.#conn = undefined;
    for (const p of [...this.#queue.values(), ...(conn?.pending.values() ?? [])]) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
    this.#queue.clear();
    conn?.pending.clear();
    this.emit('close', reason);
  }
}

/** One connection attempt; rejects with a SipsecClientError (`errno` in extra). */
function openSocket(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new SipsecClientError('timeout', `could not connect to ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(new SipsecClientError('connection-closed', `cannot connect to ${path}: ${e.message}`, { errno: (e as NodeJS.ErrnoException).code }));
    });
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(sock);
    });
  });
}

function toError(body: unknown): SipsecClientError {
  if (typeof body !== 'object' || body === null) return new SipsecClientError('protocol', 'error response without an error object');
  const { code, message, ...extra } = body as Record<string, unknown>;
  return new SipsecClientError(typeof code === 'string' ? code : 'protocol', typeof message === 'string' ? message : 'error', extra);
}
