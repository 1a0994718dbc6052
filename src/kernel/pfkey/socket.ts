/**
 * PF_KEY v2 sockets (RFC 2367 §1.3, §3): I/O only; all encoding is elsewhere.
 *
 * Linux af_key answers a request synchronously inside send() and broadcasts
 * every SADB_ADD / SADB_UPDATE / SADB_DELETE, keys included, to EVERY PF_KEY
 * socket of the namespace (BROADCAST_ALL).  So a request socket also receives
 * other processes' SAs: before each request we drain (and wipe) what is
 * queued, match the answer by sadb_msg_seq and sadb_msg_pid, and wipe every
 * received datagram.  Dumps (SADB_DUMP, SADB_X_SPDDUMP) answer with one
 * message per entry numbered down to sadb_msg_seq 0; an empty table is ENOENT.
 *
 * Requests are sent from koffi's worker thread (ffi.sendAsync), never from the
 * event loop: af_key runs every request under xfrm_cfg_mutex, and a
 * SADB_REGISTER holds it while xfrm_probe_algs() probes every algorithm of
 * xfrm_algo.c, request_module()-ing each missing one (25 s in the UML lab).
 * The answer is queued before send() returns, so the blocking recv that
 * follows (bounded by SO_RCVTIMEO) does not wait.
 */
import * as ffi from '../ffi.js';
import { EventPump } from '../event-pump.js';
import { SerialQueue } from '../serial.js';
import { KernelError } from '../errors.js';
import { netnsPath } from '../xfrm/socket.js';
import type { Header } from './messages.js';
import { decodeMessage, SADB, type ParsedMessage } from './structs.js';

const RCVBUF = 4 * 1024 * 1024;
const RECV_CHUNK = 64 * 1024;
const REQUEST_TIMEOUT_MS = 5000;
const ENOENT = 2;

function openPfkey(netns: string | undefined): number {
  const make = (): number => {
    const fd = ffi.socket(ffi.AF_KEY, ffi.SOCK_RAW, ffi.PF_KEY_V2);
    try {
      try {
        ffi.setsockoptInt(fd, ffi.SOL_SOCKET, ffi.SO_RCVBUFFORCE, RCVBUF);
      } catch {
        ffi.setsockoptInt(fd, ffi.SOL_SOCKET, ffi.SO_RCVBUF, RCVBUF);
      }
      return fd;
    } catch (e) {
      ffi.close(fd);
      throw e;
    }
  };
  const path = netnsPath(netns);
  return path ? ffi.withNetns(path, make) : make();
}

export class PfkeyRequestSocket {
  private readonly fd: number;
  /** sadb_msg_pid of our requests (af_key echoes it in the answer). */
  readonly pid = ffi.getpid();
  /** Kept above any dump entry number, never 0. */
  private seq = 0x10000 + Math.floor(Math.random() * 0x7ff00000);
  private readonly rx = new Uint8Array(RECV_CHUNK);
  private closed = false;
  /** Requests one at a time: each drains what came before and matches its own answer. */
  private readonly queue = new SerialQueue();

  constructor(netns?: string) {
    this.fd = openPfkey(netns);
    ffi.setRecvTimeout(this.fd, REQUEST_TIMEOUT_MS);
  }

  private nextHeader(): Header {
    this.seq = this.seq >= 0xfffffff0 ? 0x10000 : this.seq + 1;
    return { seq: this.seq, pid: this.pid };
  }

  /** Throw away (wiping) whatever broadcasts are queued. */
  private drain(): void {
    for (;;) {
      const n = ffi.recv(this.fd, this.rx, true);
      if (n < 0) return;
      this.rx.fill(0, 0, n);
    }
  }

  private async send(op: string, build: (h: Header) => Uint8Array): Promise<Header> {
    if (this.closed) throw new KernelError(9, op);
    this.drain();
    const h = this.nextHeader();
    const req = build(h);
    try {
      await ffi.sendAsync(this.fd, req);
    } finally {
      req.fill(0);
    }
    return h;
  }

  /** Receive datagrams until `take` returns true; each datagram is wiped after `take` saw it. */
  private receive(take: (m: ParsedMessage) => boolean): void {
    for (;;) {
      const n = ffi.recv(this.fd, this.rx);
      try {
        if (take(decodeMessage(this.rx.subarray(0, n)))) return;
      } finally {
        this.rx.fill(0, 0, n);
      }
    }
  }

  /**
   * One request and its answer (the message with our seq and pid).  `onReply`
   * sees the answer (a view into the receive buffer, wiped afterwards: copy
   * what you keep).  A non-zero sadb_msg_errno becomes a KernelError.
   */
  request(op: string, build: (h: Header) => Uint8Array, onReply?: (m: ParsedMessage) => void): Promise<void> {
    return this.queue.run(async () => {
      const h = await this.send(op, build);
      this.receive((m) => {
        if (m.seq !== h.seq || m.pid !== h.pid) return false;
        if (m.errno !== 0) throw new KernelError(m.errno, op);
        onReply?.(m);
        return true;
      });
    });
  }

  /** A dump: every entry of type `type` addressed to us, until the one numbered 0. */
  dump(op: string, type: typeof SADB.DUMP | typeof SADB.X_SPDDUMP, build: (h: Header) => Uint8Array, onEntry: (m: ParsedMessage) => void): Promise<void> {
    return this.queue.run(async () => {
      const h = await this.send(op, build);
      this.receive((m) => {
        if (m.pid !== h.pid || m.type !== type) return false;
        if (m.seq === h.seq && m.errno !== 0) {
          if (m.errno === ENOENT) return true; // nothing to dump
          throw new KernelError(m.errno, op);
        }
        if (m.errno !== 0) throw new KernelError(m.errno, op);
        onEntry(m);
        return m.seq === 0;
      });
    });
  }

  /** Closes once the requests under way are answered. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.idle();
    ffi.close(this.fd);
  }
}

/**
 * The registered socket (SADB_REGISTER for ESP, RFC 2367 §3.1.7): SADB_EXPIRE
 * and SADB_ACQUIRE go only to registered sockets.  It also receives every
 * SA broadcast with keys: those are wiped unread.  Linux drops messages to a
 * full socket silently (no ENOBUFS), hence the large receive buffer.
 */
export class PfkeyEventSocket {
  private readonly pump: EventPump;

  constructor(
    netns: string | undefined,
    private readonly register: (h: Header) => Uint8Array,
  ) {
    this.pump = new EventPump(openPfkey(netns), RECV_CHUNK);
  }

  /**
   * Sends SADB_REGISTER (from the worker thread: it can take seconds, see the
   * top of this file), then polls.  af_key marks the socket registered before
   * probing the algorithms, so no expire is lost while the probe runs.
   */
  start(onMessage: (m: ParsedMessage) => void, onError: (e: unknown) => void): void {
    this.pump.start(
      (d) => {
        const m = decodeMessage(d);
        if (m.type === SADB.EXPIRE || m.type === SADB.ACQUIRE) onMessage(m);
        else if (m.type === SADB.REGISTER && m.errno !== 0) onError(new KernelError(m.errno, 'SADB_REGISTER'));
      },
      onError,
      async () => {
        const req = this.register({ seq: 1, pid: ffi.getpid() });
        try {
          await ffi.sendAsync(this.pump.fd, req);
        } finally {
          req.fill(0);
        }
      },
    );
  }

  /** Stops polling (waits for the in-flight poll) and closes the socket. */
  close(): Promise<void> {
    return this.pump.close();
  }
}
