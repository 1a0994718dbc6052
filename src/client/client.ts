/**
 * Client of the sipsecd control socket, for UAs written in TypeScript
 * (docs/PROTOCOL.md describes the wire format for others).
 *
 *   const c = await SipsecClient.connect('/run/sipsec/sipsecd.sock');
 *   const { mikey } = await c.offer({ callId, localUri, peerUri });
 *   await c.subscribe(['rekey-needed']);
 *   for await (const ev of c.events()) ...
 *
 * Requests carry increasing ids and may be pipelined; each has a timeout.
 * Failures are `SipsecClientError`s.
 */
import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { decodePayload, encodeFrame, FrameDecoder, FramingError, MAX_FRAME_BYTES } from '../agent/framing.js';
import { EVENT_NAMES, PROTOCOL_VERSION, type ArgsOf, type EventName, type Op, type ResultOf, type SipsecEvent } from '../agent/protocol.js';
import { SipsecClientError } from './errors.js';

export { SipsecClientError } from './errors.js';
export type { ArgsOf, ResultOf, SipsecEvent, EventName, Op } from '../agent/protocol.js';

export interface ConnectOptions {
  /** Default per-request timeout; default 15 s (the daemon's own is 10 s). */
  readonly timeoutMs?: number;
  /** Give up connecting after this long; default 5 s. */
  readonly connectTimeoutMs?: number;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: SipsecClientError): void;
  timer: NodeJS.Timeout;
}

export class SipsecClient extends EventEmitter<{ event: [SipsecEvent]; close: [SipsecClientError] }> {
  readonly #sock: Socket;
  readonly #decoder = new FrameDecoder(MAX_FRAME_BYTES);
  readonly #pending = new Map<number, Pending>();
  readonly #timeoutMs: number;
  #nextId = 1;
  #closedBy: SipsecClientError | undefined;

  private constructor(sock: Socket, options: ConnectOptions) {
    super();
    this.#sock = sock;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    sock.on('data', (chunk: Buffer) => this.#onData(chunk));
    sock.on('error', (e) => this.#shutdown(new SipsecClientError('connection-closed', `socket error: ${e.message}`)));
    sock.on('close', () => this.#shutdown(new SipsecClientError('connection-closed', 'connection to sipsecd closed')));
  }

  static connect(path: string, options: ConnectOptions = {}): Promise<SipsecClient> {
    return new Promise((resolve, reject) => {
      const sock = createConnection(path);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new SipsecClientError('timeout', `could not connect to ${path}`));
      }, options.connectTimeoutMs ?? 5_000);
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(new SipsecClientError('connection-closed', `cannot connect to ${path}: ${e.message}`, { errno: (e as NodeJS.ErrnoException).code }));
      });
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(new SipsecClient(sock, options));
      });
    });
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
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new SipsecClientError('timeout', `${op}: no answer from sipsecd within ${ms} ms`));
      }, ms);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.#sock.write(frame);
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
  /** Ask for events on this connection (all when `events` is omitted); they arrive as 'event' and through `events()`. */
  subscribe(events?: readonly EventName[]): Promise<ResultOf<'subscribe'>> {
    return this.request('subscribe', events === undefined ? {} : { events: [...events] });
  }

  /** Events as an async iterator; it ends when the connection closes. */
  events(): AsyncIterableIterator<SipsecEvent> {
    const queue: SipsecEvent[] = [];
    let wake: (() => void) | undefined;
    let done = this.#closedBy !== undefined;
    const onEvent = (ev: SipsecEvent): void => {
      queue.push(ev);
      wake?.();
    };
    const onClose = (): void => {
      done = true;
      wake?.();
    };
    const stop = (): void => {
      done = true;
      this.off('event', onEvent);
      this.off('close', onClose);
      wake?.();
    };
    this.on('event', onEvent);
    this.on('close', onClose);
    const it: AsyncIterableIterator<SipsecEvent> = {
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

  close(): Promise<void> {
    if (this.#sock.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#sock.once('close', () => resolve());
      this.#sock.end();
      setTimeout(() => this.#sock.destroy(), 1000).unref();
    });
  }

  #onData(chunk: Buffer): void {
    try {
      for (const payload of this.#decoder.push(chunk)) this.#onFrame(decodePayload(payload));
    } catch (e) {
      const message = e instanceof FramingError ? e.message : String(e);
      this.#shutdown(new SipsecClientError('protocol', `unreadable data from sipsecd: ${message}`));
      this.#sock.destroy();
    }
  }

  #onFrame(msg: Record<string, unknown>): void {
    if (typeof msg.event === 'string') {
      if ((EVENT_NAMES as readonly string[]).includes(msg.event)) this.emit('event', { event: msg.event, data: msg.data } as SipsecEvent);
      return;
    }
    const error = msg.ok === false ? toError(msg.error) : undefined;
    if (msg.id === null && error) {
      // Not tied to a request (refused connection, framing error): the daemon closes; everything pending fails with it.
      this.#shutdown(error);
      return;
    }
    const p = typeof msg.id === 'number' ? this.#pending.get(msg.id) : undefined;
    if (!p) return; // answer to a request that already timed out
    this.#pending.delete(msg.id as number);
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(msg.result);
  }

  #shutdown(reason: SipsecClientError): void {
    if (this.#closedBy) return;
    this.#closedBy = reason;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
    this.#pending.clear();
    this.emit('close', reason);
  }
}

function toError(body: unknown): SipsecClientError {
  if (typeof body !== 'object' || body === null) return new SipsecClientError('protocol', 'error response without an error object');
  const { code, message, ...extra } = body as Record<string, unknown>;
  return new SipsecClientError(typeof code === 'string' ? code : 'protocol', typeof message === 'string' ? message : 'error', extra);
}
