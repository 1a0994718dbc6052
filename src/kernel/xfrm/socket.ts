/**
 * XFRM netlink sockets: the request socket (sequence-matched request/ACK and
 * dumps) and the event socket (ACQUIRE, EXPIRE and MAPPING multicast groups
 * only: the SA and POLICY groups broadcast keys).  I/O only; all encoding is elsewhere.
 */
import * as ffi from '../ffi.js';
import { EventPump } from '../event-pump.js';
import { KernelError, NetlinkDecodeError } from '../errors.js';
import { SerialQueue } from '../serial.js';
import { MessageBuilder, NLMSG, NLM_F, parseDone, parseError, parseMessages, type NlMessage } from './netlink.js';
import { XFRMNLGRP } from './structs.js';

const RCVBUF = 4 * 1024 * 1024;
// The kernel sizes dump datagrams to the receive length we use (capped at 32 KiB,
// net/netlink/af_netlink.c max_recvmsg_len): 32 KiB holds any datagram.  koffi
// passes a Uint8Array by pointer (no copy), so the size costs an ACK nothing.
const RECV_CHUNK = 32 * 1024;
const REQUEST_TIMEOUT_MS = 5000;

function openXfrm(groups: number, netns: string | undefined): number {
  const make = (): number => {
    const fd = ffi.socket(ffi.AF_NETLINK, ffi.SOCK_RAW, ffi.NETLINK_XFRM);
    try {
      try {
        ffi.setsockoptInt(fd, ffi.SOL_SOCKET, ffi.SO_RCVBUFFORCE, RCVBUF);
      } catch {
        ffi.setsockoptInt(fd, ffi.SOL_SOCKET, ffi.SO_RCVBUF, RCVBUF);
      }
      ffi.setsockoptInt(fd, ffi.SOL_NETLINK, ffi.NETLINK_EXT_ACK, 1);
      // Error replies echo only the header: a refused NEWSA is not copied back with its keys.
      ffi.setsockoptInt(fd, ffi.SOL_NETLINK, ffi.NETLINK_CAP_ACK, 1);
      ffi.bindNetlink(fd, groups);
      return fd;
    } catch (e) {
      ffi.close(fd);
      throw e;
    }
  };
  return netns ? ffi.withNetns(netns, make) : make();
}

/** Resolve a namespace name ('a') or path ('/run/netns/a', '/proc/1/ns/net'). */
export function netnsPath(netns: string | undefined): string | undefined {
  if (netns === undefined) return undefined;
  return netns.includes('/') ? netns : `/run/netns/${netns}`;
}

/** Encodes a request with sequence number `seq` into `b` (the socket's reused buffer). */
export type BuildRequest = (seq: number, b: MessageBuilder) => Uint8Array;

/** One message of a batch: the operation it names in errors, and its encoder. */
export interface BatchPart {
  op: string;
  build: BuildRequest;
}

// ACKs of a batch: one datagram each (36 bytes, more with an extended-ACK text).
const ACK_SLOTS = 8;
const ACK_SLOT_BYTES = 4096;

/**
 * Requests one at a time (or several in one datagram: `batch`), each built
 * into one reused buffer (wiped after sending) and answered into one reused receive buffer (wiped after each
 * datagram): no allocation per request, one send and (for an ACK) one recv.
 *
 * Where send() runs: the kernel handles a netlink request inside send(), and
 * the first SA of an algorithm makes it load modules and self-test the
 * crypto template there (0.2 to 13 s in the lab).  Such a request is sent
 * from koffi's worker thread (`offThread`), so the event loop keeps serving
 * meanwhile; the answer is queued before send() returns, and the recv that
 * follows does not wait.  Other requests are sent from the calling thread:
 * the hop to the worker and back costs several times the whole request
 * (docs/PERFORMANCE.md, "raw koffi, send on the worker thread").
 */
export class RequestSocket {
  private readonly fd: number;
  private seq = Math.floor(Math.random() * 0x7fffffff) + 1;
  private readonly tx = new MessageBuilder();
  private readonly rx = new Uint8Array(RECV_CHUNK);
  private readonly queue = new SerialQueue();
  /** recvmmsg buffers of `batch`, allocated on its first use. */
  private acks: ffi.DatagramBatch | undefined;
  private closed = false;

  constructor(netns?: string) {
    this.fd = openXfrm(0, netnsPath(netns));
    ffi.setRecvTimeout(this.fd, REQUEST_TIMEOUT_MS);
  }

  /** Next sequence number; never 0. */
  nextSeq(): number {
    this.seq = (this.seq % 0xfffffffe) + 1;
    return this.seq;
  }

  /**
   * Send one request and collect the messages answering it until its ACK.
   * `onMessage` sees each data message (a view into the receive buffer, which
   * is wiped after every datagram: copy what you keep).
   */
  request(op: string, build: BuildRequest, onMessage?: (m: NlMessage) => void, offThread = false): Promise<void> {
    return this.exchange(op, build, onMessage, false, offThread);
  }

  /** A dump (NLM_F_DUMP) until NLMSG_DONE. */
  dump(op: string, build: BuildRequest, onMessage: (m: NlMessage) => void): Promise<void> {
    return this.exchange(op, build, onMessage, true, false);
  }

  /**
   * Send `parts` as ONE datagram (each message NLM_F_ACK with its own
   * sequence number) and read every answer with recvmmsg: one send and, as
   * the kernel queues all ACKs before send() returns, usually one receive.
   * The kernel handles the messages in order and answers each; a refused
   * message does not stop the ones after it (net/netlink/af_netlink.c
   * netlink_rcv_skb).  Resolves, per part, undefined (ACKed) or the
   * KernelError naming its op and the kernel's extended-ACK text.
   */
  batch(parts: readonly BatchPart[], offThread = false): Promise<(KernelError | undefined)[]> {
    return this.queue.run(async () => {
      if (this.closed) throw new KernelError(9, parts[0]?.op ?? 'batch');
      const seqs = parts.map(() => this.nextSeq());
      try {
        parts.forEach((p, i) => {
          p.build(seqs[i]!, this.tx);
          this.tx.keep();
        });
        if (offThread) await ffi.sendAsync(this.fd, this.tx.batch());
        else ffi.send(this.fd, this.tx.batch());
      } finally {
        this.tx.wipe();
      }
      const acks = (this.acks ??= new ffi.DatagramBatch(ACK_SLOTS, ACK_SLOT_BYTES));
      const results: (KernelError | undefined)[] = parts.map(() => undefined);
      let pending = parts.length;
      while (pending > 0) {
        try {
          for (const d of acks.receive(this.fd)) {
            for (const m of parseMessages(d)) {
              const i = seqs.indexOf(m.seq); // not ours: a stale answer to an earlier, timed-out request
              if (i < 0) continue;
              if (m.type === NLMSG.OVERRUN) throw new NetlinkDecodeError('overrun');
              if (m.type !== NLMSG.ERROR) continue;
              const e = parseError(m);
              if (e.errno !== 0) results[i] = new KernelError(e.errno, parts[i]!.op, e.extack);
              seqs[i] = -1; // answered
              pending--;
            }
          }
        } finally {
          acks.wipe();
        }
      }
      return results;
    });
  }

  private exchange(op: string, build: BuildRequest, onMessage: ((m: NlMessage) => void) | undefined, isDump: boolean, offThread: boolean): Promise<void> {
    return this.queue.run(async () => {
      if (this.closed) throw new KernelError(9, op);
      const seq = this.nextSeq();
      let req: Uint8Array | undefined;
      try {
        req = build(seq, this.tx);
        if (offThread) await ffi.sendAsync(this.fd, req);
        else ffi.send(this.fd, req);
      } finally {
        req?.fill(0);
        this.tx.wipe();
      }
      this.receive(op, seq, onMessage, isDump);
    });
  }

  private receive(op: string, seq: number, onMessage: ((m: NlMessage) => void) | undefined, isDump: boolean): void {
    for (;;) {
      const n = ffi.recv(this.fd, this.rx);
      try {
        for (const m of parseMessages(this.rx.subarray(0, n))) {
          if (m.seq !== seq) continue; // a stale answer to an earlier, timed-out request
          if (m.type === NLMSG.ERROR) {
            const e = parseError(m);
            if (e.errno !== 0) throw new KernelError(e.errno, op, e.extack);
            if (!isDump) return;
            continue;
          }
          if (m.type === NLMSG.DONE) {
            const err = parseDone(m);
            if (err) throw new KernelError(err, op);
            if (m.flags & NLM_F.DUMP_INTR) throw new KernelError(4, op, 'dump interrupted by a concurrent change');
            return;
          }
          if (m.type === NLMSG.OVERRUN) throw new NetlinkDecodeError('overrun');
          onMessage?.(m);
        }
      } finally {
        this.rx.fill(0, 0, n);
      }
    }
  }

  /** Closes once the requests under way are answered. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.idle();
    this.acks?.free();
    ffi.close(this.fd);
  }
}

/** The multicast groups of the event socket: one line per group. */
const EVENT_GROUPS = [XFRMNLGRP.ACQUIRE, XFRMNLGRP.EXPIRE, XFRMNLGRP.MAPPING];

/**
 * The event socket: an EventPump (poll on koffi's worker thread, drain with
 * MSG_DONTWAIT, wipe) that splits each datagram into netlink messages.
 * ENOBUFS (events lost) reaches `onError` like any other receive error.
 */
export class EventSocket {
  private readonly pump: EventPump;

  constructor(netns?: string) {
    const groups = EVENT_GROUPS.reduce((g, n) => g | (1 << (n - 1)), 0);
    this.pump = new EventPump(openXfrm(groups, netnsPath(netns)), RECV_CHUNK);
  }

  start(onMessage: (m: NlMessage) => void, onError: (e: unknown) => void): void {
    this.pump.start((d) => {
      for (const m of parseMessages(d)) onMessage(m);
    }, onError);
  }

  /** Stops polling (waits for the in-flight poll) and closes the socket. */
  close(): Promise<void> {
    return this.pump.close();
  }
}
