/**
 * The sipsecd control socket server (docs/PROTOCOL.md).
 *
 * A Unix stream socket carrying length-prefixed JSON frames (framing.ts).
 * The server owns the protocol: framing, version, ids, op dispatch, argument
 * validation (protocol.ts schemas), limits, authorization at accept time,
 * `ping`, `subscribe` and `stats` (phases.ts), and event delivery.  The operations themselves are
 * the `handlers` table given by the daemon.
 *
 * Robustness: every malformed request gets a typed error response and the
 * connection keeps working; a handler's raw exception becomes `internal`
 * (logged, not sent); beyond the admission limit (admission.ts) a request
 * is answered `busy` with a retry hint before its arguments are even
 * parsed, so refusing costs far less than serving; an oversized frame, a
 * frame left incomplete for `partialFrameTimeoutMs` (slowloris) or a reader
 * that stops reading (more than `maxQueuedBytes` unsent) closes that
 * connection only.
 */
import { lstatSync, mkdirSync, unlinkSync, chmodSync, chownSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { peerCredentials } from '../kernel/ffi.js';
import { Admission } from './admission.js';
import { withSupplementaryGroups, type Authorization, type PeerCred } from './authz.js';
import { RequestError } from './errors.js';
import { decodePayload, encodeFrame, FrameDecoder, FramingError, MAX_FRAME_BYTES } from './framing.js';
import { silentLogger, type Logger } from './log.js';
import type { PhaseStats, RequestPhases } from './phases.js';
import {
  argSchemas,
  EVENT_NAMES,
  isRequestId,
  OPS,
  PROTOCOL_VERSION,
  type ErrorBody,
  type EventMap,
  type EventName,
  type Op,
  type ParsedArgsOf,
  type ResultOf,
} from './protocol.js';

export { RequestError } from './errors.js';

export interface RequestContext {
  readonly caller: PeerCred;
  /** Root or a member of the admin group. */
  readonly admin: boolean;
  readonly connectionId: number;
  /** Aborted when the request times out or the connection closes. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** This request's phase clock, when phase timing is on (phases.ts): handlers lap their own phases. */
  readonly phases?: RequestPhases;
}

export type Handler<O extends Op> = (args: ParsedArgsOf<O>, ctx: RequestContext) => Promise<ResultOf<O>>;
/** Ops the server answers itself, whatever the daemon. */
type ServerOp = 'ping' | 'subscribe' | 'stats';
/** Ops the daemon implements.  A missing op answers not-implemented. */
export type Handlers = { [O in Exclude<Op, ServerOp>]?: Handler<O> };

export interface ServerLimits {
  readonly maxFrameBytes: number;
  readonly maxConnections: number;
  /** Requests of one connection being handled at once; more are answered `busy`. */
  readonly maxInFlight: number;
  /**
   * Requests of all connections being handled at once, at most; more are
   * answered `busy` at once.  Without it an overload queues every request
   * behind all the others until each times out and none is served.  Below it
   * the limit adapts to `targetLatencyMs` (admission.ts).
   */
  readonly maxInFlightTotal: number;
  /** Latency the adaptive admission limit keeps admitted requests within. */
  readonly targetLatencyMs: number;
  /**
   * Queue delay past which new work is refused: a request read this long
   * after the event loop's turn began has waited at least that long unread
   * (admission.ts); new work read later in that turn, but its first few,
   * is answered `busy`.
   */
  readonly queueTargetMs: number;
  readonly requestTimeoutMs: number;
  /** A frame begun but not finished within this time closes the connection. */
  readonly partialFrameTimeoutMs: number;
  /** Unsent response/event bytes after which a connection is dropped. */
  readonly maxQueuedBytes: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxFrameBytes: MAX_FRAME_BYTES,
  maxConnections: 64,
  maxInFlight: 8,
  maxInFlightTotal: 32,
  targetLatencyMs: 1_000,
  queueTargetMs: 100,
  requestTimeoutMs: 10_000,
  partialFrameTimeoutMs: 5_000,
  maxQueuedBytes: 1024 * 1024,
};

export interface ServerOptions {
  readonly path: string;
  /** gid to chown the socket to (resolve names with AccountDb). */
  readonly group?: number;
  /** Socket file mode; default 0660. */
  readonly mode?: number;
  readonly handlers: Handlers;
  /** Decide at accept time; null refuses the connection. */
  readonly authorize: (caller: PeerCred) => Authorization | null;
  readonly limits?: Partial<ServerLimits>;
  readonly log?: Logger;
  /** Per-request phase timing (on or off), reported and switched by `stats`; absent: never. */
  readonly phases?: PhaseStats;
}

/** Who a connection belongs to, for choosing the audience of an event. */
export interface Subscriber {
  readonly caller: PeerCred;
  readonly admin: boolean;
  readonly connectionId: number;
}

export interface SipsecServer {
  /** Send an event to every subscriber of `event` for which `audience` (default: all) is true; returns how many got it. */
  publish<E extends EventName>(event: E, data: EventMap[E], audience?: (s: Subscriber) => boolean): number;
  readonly connectionCount: number;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<SipsecServer> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const log = options.log ?? silentLogger;
  const connections = new Set<Connection>();
  const admission = new Admission({ max: limits.maxInFlightTotal, targetMs: limits.targetLatencyMs, queueTargetMs: limits.queueTargetMs });
  const ticker = setInterval(() => admission.tick(), ADMISSION_TICK_MS).unref();
  let nextId = 1;

  await removeStaleSocket(options.path);
  mkdirSync(dirname(options.path), { recursive: true, mode: 0o755 });

  const server = createServer({ allowHalfOpen: false }, (sock) => {
    const id = nextId++;
    const clog = log.child({ conn: id });
    if (connections.size >= limits.maxConnections) {
      clog.warn('connection refused: too many connections', { max: limits.maxConnections });
      refuse(sock, { code: 'busy', message: 'too many connections', retryAfterMs: admission.retryAfterMs() });
      return;
    }
    let caller: PeerCred;
    try {
      caller = withSupplementaryGroups(peerCredentials(socketFd(sock)));
    } catch (e) {
      clog.error('cannot read peer credentials', { error: e });
      sock.destroy();
      return;
    }
    const authz = options.authorize(caller);
    if (!authz) {
      clog.warn('connection refused: caller not allowed', { pid: caller.pid, uid: caller.uid, gid: caller.gid });
      refuse(sock, { code: 'forbidden', message: 'this user may not use sipsecd' });
      return;
    }
    clog.debug('connected', { pid: caller.pid, uid: caller.uid, gid: caller.gid, admin: authz.admin });
    const conn = new Connection(sock, { caller, admin: authz.admin, connectionId: id }, options.handlers, limits, admission, clog, options.phases);
    connections.add(conn);
    sock.on('close', () => {
      connections.delete(conn);
      conn.closed();
    });
  });
  server.maxConnections = limits.maxConnections + 8; // hard cap; the soft one above answers `busy`

  await listenPrivately(server, options.path);
  try {
    if (options.group !== undefined) chownSync(options.path, -1, options.group);
    chmodSync(options.path, options.mode ?? 0o660);
  } catch (e) {
    server.close();
    throw e;
  }
  log.info('listening', { path: options.path, mode: (options.mode ?? 0o660).toString(8), gid: options.group });

  return {
    publish(event, data, audience) {
      let n = 0;
      for (const c of connections) if (c.wants(event) && (audience?.(c.who) ?? true) && c.send({ v: PROTOCOL_VERSION, event, data })) n++;
      return n;
    },
    get connectionCount() {
      return connections.size;
    },
    close() {
      clearInterval(ticker);
      return new Promise<void>((resolve) => {
        server.close(() => {
          try {
            unlinkSync(options.path);
          } catch {
            // already gone
          }
          resolve();
        });
        for (const c of connections) c.destroy();
      });
    },
  };
}

/** How often the event loop is marked free for admission (admission.ts `tick`), ms. */
const ADMISSION_TICK_MS = 20;

/**
 * Ops admitted up to `maxInFlightTotal` whatever the adaptive limit: they
 * finish work already begun (a call's confirm, a prepared call's activate, its release), see admission.ts.
 */
const URGENT: ReadonlySet<Op> = new Set<Op>(['confirm', 'activate', 'release']);

/** One accepted, authorized connection. */
class Connection {
  readonly #decoder: FrameDecoder;
  readonly #aborts = new Set<LazyAbort>();
  #inFlight = 0;
  #events: ReadonlySet<EventName> | null = null;
  #partialTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sock: Socket,
    readonly who: Subscriber,
    private readonly handlers: Handlers,
    private readonly limits: ServerLimits,
    private readonly admission: Admission,
    private readonly log: Logger,
    private readonly phases: PhaseStats | undefined,
  ) {
    this.#decoder = new FrameDecoder(limits.maxFrameBytes);
    sock.on('data', (chunk: Buffer) => this.#onData(chunk));
    sock.on('error', (e) => log.debug('socket error', { error: e }));
  }

  wants(event: EventName): boolean {
    return this.#events?.has(event) ?? false;
  }

  /** Queue a frame; false (and the connection dropped) if the peer is not reading. */
  send(frame: object): boolean {
    if (this.sock.destroyed) return false;
    if (this.sock.writableLength > this.limits.maxQueuedBytes) {
      this.log.warn('dropping connection: peer does not read', { queued: this.sock.writableLength });
      this.destroy();
      return false;
    }
    let bytes: Buffer;
    try {
      bytes = encodeFrame(frame, this.limits.maxFrameBytes);
    } catch (e) {
      this.log.error('response too large', { error: e });
      const id = (frame as { id?: unknown }).id;
      if (id === undefined) return false;
      bytes = encodeFrame(errorFrame(id as number | null, { code: 'internal', message: 'response too large' }));
    }
    this.sock.write(bytes);
    return true;
  }

  destroy(): void {
    this.sock.destroy();
  }

  closed(): void {
    clearTimeout(this.#partialTimer);
    for (const a of this.#aborts) a.abort();
  }

  #onData(chunk: Buffer): void {
    let payloads: Buffer[];
    try {
      payloads = this.#decoder.push(chunk);
    } catch (e) {
      const fe = e as FramingError;
      this.log.warn('closing connection: bad framing', { code: fe.code });
      this.send(errorFrame(null, { code: fe.code, message: fe.message }));
      this.sock.end();
      this.sock.pause();
      setTimeout(() => this.destroy(), 100).unref();
      return;
    }
    if (payloads.length > 0) {
      clearTimeout(this.#partialTimer);
      this.#partialTimer = undefined;
    }
    if (this.#decoder.partial && this.#partialTimer === undefined) {
      this.#partialTimer = setTimeout(() => {
        this.log.warn('closing connection: incomplete frame timed out', { ms: this.limits.partialFrameTimeoutMs });
        this.destroy();
      }, this.limits.partialFrameTimeoutMs);
    }
    for (const p of payloads) this.#request(p);
  }

  /** Send a result; `ph`: the request's phase clock, closed with the write. */
  #reply(id: number | null, result: unknown, ph?: RequestPhases): void {
    this.send({ v: PROTOCOL_VERSION, id, ok: true, result });
    ph?.end('reply');
  }

  #fail(id: number | null, error: ErrorBody, ph?: RequestPhases): void {
    this.send(errorFrame(id, error));
    ph?.end('reply');
  }

  #request(payload: Buffer): void {
    const ph = this.phases?.enabled ? this.phases.begin() : undefined;
    let msg: Record<string, unknown>;
    try {
      msg = decodePayload(payload);
    } catch (e) {
      this.#fail(null, { code: 'bad-json', message: (e as FramingError).message });
      return;
    }
    const id = msg.id;
    if (!isRequestId(id)) {
      this.#fail(null, { code: 'bad-request', message: 'missing or invalid "id" (a non-negative integer)' });
      return;
    }
    if (msg.v !== PROTOCOL_VERSION) {
      this.#fail(id, { code: 'unsupported-version', message: `protocol version ${JSON.stringify(msg.v)} is not supported`, supported: [PROTOCOL_VERSION] });
      return;
    }
    const op = msg.op;
    if (typeof op !== 'string' || !(OPS as string[]).includes(op)) {
      this.#fail(id, { code: 'unknown-op', message: `unknown operation ${JSON.stringify(op)}` });
      return;
    }
    if (op === 'ping' || op === 'subscribe' || op === 'stats') {
      const parsed = this.#parse(id, op, msg.args);
      if (!parsed) return;
      ph?.parsed(op);
      if (op === 'ping') return this.#reply(id, { pong: true, protocol: PROTOCOL_VERSION }, ph);
      if (op === 'stats') return this.#stats(id, parsed as ParsedArgsOf<'stats'>, ph);
      this.#events = new Set((parsed as ParsedArgsOf<'subscribe'>).events ?? EVENT_NAMES);
      return this.#reply(id, { events: [...this.#events] });
    }
    const handler = this.handlers[op as Exclude<Op, ServerOp>] as Handler<Op> | undefined;
    if (!handler) return this.#fail(id, { code: 'not-implemented', message: `${op} is not implemented by this daemon` });
    // Admission before the arguments are parsed: a refusal must cost little.
    if (this.#inFlight >= this.limits.maxInFlight) {
      return this.#fail(id, { code: 'busy', message: `too many requests in flight on this connection (max ${this.limits.maxInFlight})`, retryAfterMs: this.admission.retryAfterMs() });
    }
    const over = this.admission.admit(URGENT.has(op as Op));
    if (!over) {
      const retryAfterMs = this.admission.retryAfterMs();
      return this.#fail(id, { code: 'busy', message: `sipsecd is at capacity (${this.admission.refusedFor}): retry in ${retryAfterMs} ms`, retryAfterMs });
    }
    const parsed = this.#parse(id, op as Op, msg.args);
    if (!parsed) return over();
    ph?.parsed(op);
    this.#run(id, op as Op, parsed, handler, over, ph);
  }

  /** `stats`: this process's page faults and memory, and the phase timing when it is on. */
  #stats(id: number, args: ParsedArgsOf<'stats'>, ph: RequestPhases | undefined): void {
    if ((args.reset || args.phases !== undefined) && !this.who.admin) return this.#fail(id, { code: 'forbidden', message: 'reset and phases need root or the admin group' }, ph);
    const ru = process.resourceUsage();
    // The phase summary sorts thousands of samples: admins only, so no UA can make the loop spin with it.
    const phases = this.phases?.enabled && this.who.admin ? this.phases.summary() : undefined;
    if (args.reset) this.phases?.reset();
    if (args.phases !== undefined && this.phases) this.phases.enabled = args.phases;
    const result: ResultOf<'stats'> = { pid: process.pid, minorPageFaults: ru.minorPageFault, majorPageFaults: ru.majorPageFault, rssBytes: process.memoryUsage.rss(), ...(phases ? { phases } : {}) };
    this.#reply(id, result, ph);
  }

  /** The op's arguments checked by its schema, or undefined after answering `invalid-args`. */
  #parse(id: number, op: Op, args: unknown): object | undefined {
    const parsed = argSchemas[op].safeParse(args ?? {});
    if (parsed.success) return parsed.data;
    const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
    this.#fail(id, { code: 'invalid-args', message: `invalid arguments for ${op}`, issues });
    return undefined;
  }

  /** Run an admitted request's handler; `over` gives its admission back when the handler has finished. */
  #run(id: number, op: Op, args: unknown, handler: Handler<Op>, over: () => void, ph: RequestPhases | undefined): void {
    this.#inFlight++;
    const abort = new LazyAbort();
    this.#aborts.add(abort);
    let answered = false;
    const timer = setTimeout(() => {
      answered = true;
      abort.abort();
      this.log.warn('request timed out', { id, op, ms: this.limits.requestTimeoutMs });
      this.#fail(id, { code: 'timeout', message: `${op} did not finish within ${this.limits.requestTimeoutMs} ms` });
    }, this.limits.requestTimeoutMs);
    // The signal and the request's child logger are made only if the handler uses them: most do not,
    // and in the lab every object a request allocates costs (docs/PERFORMANCE.md "Where the time goes").
    const log = this.log;
    let child: Logger | undefined;
    const ctx: RequestContext = {
      ...this.who,
      get signal() {
        return abort.signal;
      },
      get log() {
        return (child ??= log.child({ id, op }));
      },
      ...(ph ? { phases: ph } : {}),
    };
    Promise.resolve()
      .then(() => {
        ph?.lap('queued');
        return handler(args as never, ctx);
      })
      .then(
        (result) => {
          ph?.lap('handler');
          if (!answered) this.#reply(id, result, ph);
        },
        (e: unknown) => {
          ph?.lap('handler');
          if (answered) return;
          if (e instanceof RequestError) this.#fail(id, { ...e.extra, code: e.code, message: e.message }, ph);
          else {
            this.log.error('handler failed', { id, op, error: e });
            this.#fail(id, { code: 'internal', message: 'internal error' }, ph);
          }
        },
      )
      .finally(() => {
        answered = true;
        clearTimeout(timer);
        this.#aborts.delete(abort);
        this.#inFlight--;
        over();
      });
  }
}

/** An AbortController made on the first read of its signal; aborted before that, the signal comes out aborted. */
class LazyAbort {
  #controller: AbortController | undefined;
  #aborted = false;

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  abort(): void {
    this.#aborted = true;
    this.#controller?.abort();
  }
}

function errorFrame(id: number | null, error: ErrorBody): object {
  return { v: PROTOCOL_VERSION, id, ok: false, error };
}

/** Answer an unaccepted connection with one error frame and close it. */
function refuse(sock: Socket, error: ErrorBody): void {
  sock.on('error', () => {});
  sock.end(encodeFrame(errorFrame(null, error)));
  setTimeout(() => sock.destroy(), 1000).unref();
}

/** The file descriptor of an accepted Unix socket (libuv's pipe handle). */
function socketFd(sock: Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no file descriptor');
  return fd;
}

/** listen() with umask 0177, so the socket is never more open than 0600 before chmod/chown. */
function listenPrivately(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const old = process.umask(0o177);
    server.once('error', (e) => {
      process.umask(old);
      reject(e);
    });
    server.listen(path, () => {
      process.umask(old);
      resolve();
    });
  });
}

/** Remove a socket file no one listens on (left by a crash); refuse to clobber anything else. */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another daemon is listening on ${path}`);
  unlinkSync(path);
}
