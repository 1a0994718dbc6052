/**
 * The receive loop of a kernel event socket (XFRM netlink multicast groups,
 * the PF_KEY registered socket): wait for the socket to become readable with
 * poll() on koffi's worker thread (ffi.pollReadableAsync, so the event loop is
 * never blocked), drain every queued datagram with MSG_DONTWAIT, hand each to
 * the caller as a view into one receive buffer, and wipe that buffer after
 * each datagram (the PF_KEY socket also receives SA broadcasts with keys).
 * I/O only: decoding and dispatch are the caller's.
 */
import * as ffi from './ffi.js';
import { KernelError } from './errors.js';

const POLL_MS = 200;
const ENOBUFS = 105;

export class EventPump {
  private readonly rx: Uint8Array;
  private running = false;
  private stopped?: Promise<void>;

  /** Takes ownership of `fd` (closed by `close()`). */
  constructor(
    readonly fd: number,
    recvBytes: number,
  ) {
    this.rx = new Uint8Array(recvBytes);
  }

  /**
   * Runs `first` (e.g. a registration request) and then the loop.
   * `onDatagram` sees a view valid only during the call.  Errors thrown by it
   * or by `first`, and receive errors, go to `onError`; ENOBUFS (the kernel
   * dropped datagrams for a full socket) goes to `onError` too, and draining
   * continues.
   */
  start(onDatagram: (d: Uint8Array) => void, onError: (e: unknown) => void, first?: () => Promise<void>): void {
    if (this.running) return;
    this.running = true;
    this.stopped = (async () => {
      if (first) await first().catch(onError);
      while (this.running) {
        const readable = await ffi.pollReadableAsync(this.fd, POLL_MS);
        if (readable && this.running) this.drain(onDatagram, onError);
      }
    })();
  }

  private drain(onDatagram: (d: Uint8Array) => void, onError: (e: unknown) => void): void {
    for (;;) {
      let n: number;
      try {
        n = ffi.recv(this.fd, this.rx, true);
      } catch (e) {
        onError(e);
        if (e instanceof KernelError && e.errno === ENOBUFS) continue;
        return;
      }
      if (n < 0) return;
      try {
        onDatagram(this.rx.subarray(0, n));
      } catch (e) {
        onError(e);
      } finally {
        this.rx.fill(0, 0, n);
      }
    }
  }

  /** Stops polling (waits for the in-flight poll) and closes the socket. */
  async close(): Promise<void> {
    this.running = false;
    await this.stopped;
    ffi.close(this.fd);
  }
}
