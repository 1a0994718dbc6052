/**
 * XFRM netlink sockets: the request socket (sequence-matched request/ACK and
 * dumps) and the event socket (ACQUIRE, EXPIRE and MAPPING multicast groups
 * only: the SA and POLICY groups broadcast keys).  I/O only; all encoding is elsewhere.
 */
import * as ffi from '../ffi.js';
import { KernelError, NetlinkDecodeError } from '../errors.js';
import { NLMSG, NLM_F, parseDone, parseError, parseMessages, type NlMessage } from './netlink.js';
import { XFRMNLGRP } from './structs.js';

const RCVBUF = 4 * 1024 * 1024;
// The kernel sizes dump datagrams to the receive length we use (capped at 32 KiB,
// net/netlink/af_netlink.c max_recvmsg_len), and koffi moves the whole buffer on
// every recv: a 32 KiB buffer holds any datagram and keeps an ACK cheap.
const RECV_CHUNK = 32 * 1024;
const REQUEST_TIMEOUT_MS = 5000;
const ENOBUFS = 105;

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

export class RequestSocket {
  private readonly fd: number;
  private seq = Math.floor(Math.random() * 0x7fffffff) + 1;
  private readonly rx = new Uint8Array(RECV_CHUNK);
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
   * Send one request built with `seq` and collect the messages answering it
   * until its ACK.  `onMessage` sees each data message (a view into the receive
   * buffer, which is wiped after every datagram: copy what you keep).  The
   * request buffer is wiped after sending.
   */
  request(op: string, build: (seq: number) => Uint8Array, onMessage?: (m: NlMessage) => void): void {
    this.exchange(op, build, onMessage, false);
  }

  /** A dump (NLM_F_DUMP) until NLMSG_DONE. */
  dump(op: string, build: (seq: number) => Uint8Array, onMessage: (m: NlMessage) => void): void {
    this.exchange(op, build, onMessage, true);
  }

  private exchange(op: string, build: (seq: number) => Uint8Array, onMessage: ((m: NlMessage) => void) | undefined, isDump: boolean): void {
    if (this.closed) throw new KernelError(9, op);
    const seq = this.nextSeq();
    const req = build(seq);
    try {
      ffi.send(this.fd, req);
    } finally {
      req.fill(0);
    }
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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    ffi.close(this.fd);
  }
}

/**
 * The event socket.  `start(onBatch)` polls on koffi's worker thread and
 * drains with MSG_DONTWAIT; ENOBUFS (events lost) is reported as `overflow`.
 */
export class EventSocket {
  private readonly fd: number;
  private readonly rx = new Uint8Array(RECV_CHUNK);
  private running = false;
  private stopped?: Promise<void>;

  constructor(netns?: string) {
    this.fd = openXfrm((1 << (XFRMNLGRP.ACQUIRE - 1)) | (1 << (XFRMNLGRP.EXPIRE - 1)) | (1 << (XFRMNLGRP.MAPPING - 1)), netnsPath(netns));
  }

  start(onMessage: (m: NlMessage) => void, onOverflow: () => void, onError: (e: unknown) => void): void {
    if (this.running) return;
    this.running = true;
    this.stopped = (async () => {
      while (this.running) {
        const readable = await ffi.pollReadableAsync(this.fd, 200);
        if (!readable || !this.running) continue;
        for (;;) {
          let n: number;
          try {
            n = ffi.recv(this.fd, this.rx, true);
          } catch (e) {
            if (e instanceof KernelError && e.errno === ENOBUFS) {
              onOverflow();
              continue;
            }
            onError(e);
            break;
          }
          if (n < 0) break;
          try {
            for (const m of parseMessages(this.rx.subarray(0, n))) onMessage(m);
          } catch (e) {
            onError(e);
          } finally {
            this.rx.fill(0, 0, n);
          }
        }
      }
    })();
  }

  /** Stops polling (waits for the in-flight poll) and closes the socket. */
  async close(): Promise<void> {
    this.running = false;
    await this.stopped;
    ffi.close(this.fd);
  }
}
