/**
 * Every libc binding of sipsec, through koffi, in this one file.
 *
 * Small, errno-checked wrappers: each returns a value or throws KernelError
 * (errno read with koffi.errno() right after the call).  The daemon reuses
 * `peerCredentials` (SO_PEERCRED) for its control socket.
 *
 * Blocking policy: netlink requests are answered by the kernel synchronously
 * within the sendto() call, so request sockets use a blocking recv bounded by
 * SO_RCVTIMEO (a lost reply becomes ETIMEDOUT, never a hang).  Event sockets
 * are waited on with poll() run on koffi's worker thread (`pollReadableAsync`),
 * so the event loop is never blocked, and drained with MSG_DONTWAIT (the loop
 * is event-pump.ts).  Requests the kernel may take seconds to answer
 * are sent from that worker thread too (`sendAsync`): every PF_KEY request
 * (af_key may hold them, see there) and the XFRM NEWSA/UPDSA of an algorithm
 * set not yet instantiated (module load and crypto self-test inside send()).
 * koffi passes a Uint8Array argument by pointer, without copying it.
 */
import koffi from 'koffi';
import { KernelError } from './errors.js';

const libc = koffi.load('libc.so.6');

const c_socket = libc.func('int socket(int domain, int type, int protocol)');
const c_bind = libc.func('int bind(int fd, const void *addr, uint32_t len)');
const c_getsockname = libc.func('int getsockname(int fd, _Out_ void *addr, _Inout_ uint32_t *len)');
const c_send = libc.func('intptr_t send(int fd, const void *buf, size_t len, int flags)');
const c_recv = libc.func('intptr_t recv(int fd, _Out_ void *buf, size_t len, int flags)');
const c_setsockopt = libc.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)');
const c_getsockopt = libc.func('int getsockopt(int fd, int level, int name, _Out_ void *val, _Inout_ uint32_t *len)');
const c_close = libc.func('int close(int fd)');
const c_open = libc.func('int open(const char *path, int flags)');
const c_setns = libc.func('int setns(int fd, int nstype)');
const c_poll = libc.func('int poll(_Inout_ void *fds, uint64_t nfds, int timeout)');
const c_getpid = libc.func('int getpid()');
const c_sendto = libc.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)');
const c_recvmmsg = libc.func('int recvmmsg(int fd, void *vec, unsigned int vlen, int flags, void *timeout)');

export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const NETLINK_XFRM = 6;
/** PF_KEY v2 (RFC 2367): socket(AF_KEY, SOCK_RAW, PF_KEY_V2). */
export const AF_KEY = 15;
export const PF_KEY_V2 = 2;
export const SOL_SOCKET = 1;
export const SOL_NETLINK = 270;
export const SO_RCVBUF = 8;
export const SO_SNDBUF = 7;
export const SO_RCVBUFFORCE = 33;
export const SO_PEERCRED = 17;
export const SO_RCVTIMEO = 20;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
/** recvmmsg: wait for the first datagram only, then take what is queued. */
export const MSG_WAITFORONE = 0x10000;
export const CLONE_NEWNET = 0x40000000;
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
/** SOL_UDP = IPPROTO_UDP; UDP_ENCAP (linux/udp.h) takes a UDP_ENCAP_* type. */
export const SOL_UDP = 17;
export const UDP_ENCAP = 100;
/** SOL_IP = IPPROTO_IP; IP_XFRM_POLICY (linux/in.h) sets a per-socket IPsec policy (xfrm_userpolicy_info). */
export const SOL_IP = 0;
export const IP_XFRM_POLICY = 17;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const POLLIN = 1;
const EINTR = 4;
const EAGAIN = 11;

function fail(op: string): never {
  throw new KernelError(koffi.errno(), op);
}

export function socket(domain: number, type: number, protocol: number): number {
  const fd = c_socket(domain, type | SOCK_CLOEXEC, protocol) as number;
  if (fd < 0) fail('socket');
  return fd;
}

/** bind() to sockaddr_nl { nl_family, pad, nl_pid, nl_groups }. */
export function bindNetlink(fd: number, groups: number): void {
  const sa = Buffer.alloc(12);
  sa.writeUInt16LE(AF_NETLINK, 0);
  sa.writeUInt32LE(0, 4);
  sa.writeUInt32LE(groups >>> 0, 8);
  if ((c_bind(fd, sa, 12) as number) < 0) fail('bind');
}

/** struct sockaddr_in { sin_family (host order), sin_port (network order), sin_addr, zero[8] }. */
function sockaddrIn(addr: Uint8Array, port: number): Buffer {
  const sa = Buffer.alloc(16);
  sa.writeUInt16LE(AF_INET, 0);
  sa.writeUInt16BE(port, 2);
  sa.set(addr.subarray(0, 4), 4);
  return sa;
}

/** bind() an AF_INET socket to INADDR_ANY:`port`. */
export function bindInet(fd: number, port: number): void {
  if ((c_bind(fd, sockaddrIn(new Uint8Array(4), port), 16) as number) < 0) fail('bind');
}

/** sendto() an IPv4 address (4 bytes) and port; returns without retrying a full buffer (datagrams may be lost). */
export function sendToInet(fd: number, buf: Uint8Array, addr: Uint8Array, port: number): void {
  for (;;) {
    if ((c_sendto(fd, buf, buf.length, MSG_DONTWAIT, sockaddrIn(addr, port), 16) as number) >= 0) return;
    if (koffi.errno() !== EINTR) fail('sendto');
  }
}

/** The netlink port id the kernel gave the socket. */
export function netlinkPortId(fd: number): number {
  const sa = Buffer.alloc(12);
  const len = [12];
  if ((c_getsockname(fd, sa, len) as number) < 0) fail('getsockname');
  return sa.readUInt32LE(4);
}

export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  const v = Buffer.alloc(4);
  v.writeInt32LE(value, 0);
  if ((c_setsockopt(fd, level, name, v, 4) as number) < 0) fail(`setsockopt(${level},${name})`);
}

/** setsockopt() with a struct value. */
export function setsockoptBytes(fd: number, level: number, name: number, value: Uint8Array): void {
  if ((c_setsockopt(fd, level, name, value, value.length) as number) < 0) fail(`setsockopt(${level},${name})`);
}

/** SO_RCVTIMEO as struct timeval. */
export function setRecvTimeout(fd: number, ms: number): void {
  const tv = Buffer.alloc(16);
  tv.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
  tv.writeBigInt64LE(BigInt((ms % 1000) * 1000), 8);
  if ((c_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) as number) < 0) fail('setsockopt(SO_RCVTIMEO)');
}

export function send(fd: number, buf: Uint8Array): void {
  for (;;) {
    const n = c_send(fd, buf, buf.length, 0) as number;
    if (n >= 0) return;
    if (koffi.errno() !== EINTR) fail('send');
  }
}

/**
 * recv() into `buf`; returns the byte count, or -1 when `dontWait` and nothing
 * is queued.  A blocking recv that hits SO_RCVTIMEO throws ETIMEDOUT.
 */
export function recv(fd: number, buf: Uint8Array, dontWait = false): number {
  for (;;) {
    const n = c_recv(fd, buf, buf.length, dontWait ? MSG_DONTWAIT : 0) as number;
    if (n >= 0) return n;
    const e = koffi.errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) {
      if (dontWait) return -1;
      throw new KernelError(110, 'recv');
    }
    throw new KernelError(e, 'recv');
  }
}

/**
 * Several datagrams in one recvmmsg(2): `slots` receive buffers of
 * `slotBytes` each, with their mmsghdr and iovec, in one block of native
 * memory set up once (recvmmsg reads pointers, which JavaScript memory cannot
 * give it).  x86_64 layout:
 *
 *  struct mmsghdr (64)              struct iovec (16)
 *  +0  msg_name       (NULL)        +0 iov_base -> slot i
 *  +8  msg_namelen    (0)           +8 iov_len  =  slotBytes
 *  +16 msg_iov        -> iovec i
 *  +24 msg_iovlen     (1)
 *  +32 msg_control    (NULL)
 *  +40 msg_controllen (0)
 *  +48 msg_flags      (out: MSG_TRUNC)
 *  +56 msg_len        (out: bytes received)
 */
export class DatagramBatch {
  private readonly mem: unknown;
  private readonly bytes: Uint8Array;
  private readonly dv: DataView;
  private readonly dataOff: number;
  private used = 0;

  constructor(
    readonly slots: number,
    readonly slotBytes: number,
  ) {
    this.dataOff = slots * (64 + 16);
    const size = this.dataOff + slots * slotBytes;
    this.mem = koffi.alloc('uint8_t', size);
    const ab = koffi.view(this.mem, size);
    this.bytes = new Uint8Array(ab);
    this.dv = new DataView(ab);
    this.bytes.fill(0);
    const base = koffi.address(this.mem);
    for (let i = 0; i < slots; i++) {
      const iov = slots * 64 + i * 16;
      this.dv.setBigUint64(i * 64 + 16, base + BigInt(iov), true);
      this.dv.setBigUint64(i * 64 + 24, 1n, true);
      this.dv.setBigUint64(iov, base + BigInt(this.dataOff + i * slotBytes), true);
      this.dv.setBigUint64(iov + 8, BigInt(slotBytes), true);
    }
  }

  /**
   * recvmmsg with MSG_WAITFORONE: blocks (up to SO_RCVTIMEO: ETIMEDOUT) for
   * the first datagram, then takes those already queued, up to `slots`.
   * Returns views into native memory, valid until the next `receive` or `wipe`;
   * a datagram longer than `slotBytes` is EMSGSIZE.
   */
  receive(fd: number): Uint8Array[] {
    this.wipe();
    let n: number;
    for (;;) {
      n = c_recvmmsg(fd, this.mem, this.slots, MSG_WAITFORONE, null) as number;
      if (n >= 0) break;
      const e = koffi.errno();
      if (e === EINTR) continue;
      throw new KernelError(e === EAGAIN ? 110 : e, 'recvmmsg');
    }
    this.used = n;
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      if (this.dv.getInt32(i * 64 + 48, true) & MSG_TRUNC) throw new KernelError(90, 'recvmmsg', `datagram longer than ${this.slotBytes} bytes`);
      const off = this.dataOff + i * this.slotBytes;
      out.push(this.bytes.subarray(off, off + this.dv.getUint32(i * 64 + 56, true)));
    }
    return out;
  }

  /** Zero the datagrams of the last `receive`. */
  wipe(): void {
    for (let i = 0; i < this.used; i++) {
      const off = this.dataOff + i * this.slotBytes;
      this.bytes.fill(0, off, off + Math.min(this.slotBytes, this.dv.getUint32(i * 64 + 56, true)));
      this.dv.setUint32(i * 64 + 48, 0, true);
      this.dv.setUint32(i * 64 + 56, 0, true);
    }
    this.used = 0;
  }

  free(): void {
    this.wipe();
    koffi.free(this.mem);
  }
}

/**
 * send() on koffi's worker thread, for requests the kernel may take long to
 * answer: a PF_KEY request waits for xfrm_cfg_mutex, which SADB_REGISTER holds
 * while xfrm_probe_algs() probes (and request_module()s) every algorithm.
 */
export function sendAsync(fd: number, buf: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      c_send.async(fd, buf, buf.length, 0, (err: unknown, n: number) => {
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        if (n >= 0) return resolve();
        const e = koffi.errno();
        if (e === EINTR) return attempt();
        reject(new KernelError(e, 'send'));
      });
    };
    attempt();
  });
}

export function close(fd: number): void {
  c_close(fd);
}

/** Wait (on a worker thread) until `fd` is readable or `timeoutMs` passed. */
export function pollReadableAsync(fd: number, timeoutMs: number): Promise<boolean> {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(POLLIN, 4);
  return new Promise((resolve) => {
    c_poll.async(pfd, 1, timeoutMs, (err: unknown, n: number) => {
      resolve(!err && n > 0 && pfd.readInt16LE(6) !== 0);
    });
  });
}

/**
 * Run `fn` with the calling thread in the network namespace at `nsPath`
 * (e.g. /run/netns/a), then return to the original one.  Sockets created
 * inside keep that namespace.
 */
export function withNetns<T>(nsPath: string, fn: () => T): T {
  const self = c_open('/proc/thread-self/ns/net', O_RDONLY | O_CLOEXEC) as number;
  if (self < 0) fail('open(/proc/thread-self/ns/net)');
  try {
    const target = c_open(nsPath, O_RDONLY | O_CLOEXEC) as number;
    if (target < 0) fail(`open(${nsPath})`);
    try {
      if ((c_setns(target, CLONE_NEWNET) as number) < 0) fail('setns');
    } finally {
      c_close(target);
    }
    try {
      return fn();
    } finally {
      if ((c_setns(self, CLONE_NEWNET) as number) < 0) fail('setns(back)');
    }
  } finally {
    c_close(self);
  }
}

/** SO_PEERCRED of a connected Unix socket. */
export function peerCredentials(fd: number): { pid: number; uid: number; gid: number } {
  const cred = Buffer.alloc(12);
  const len = [12];
  if ((c_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len) as number) < 0) fail('getsockopt(SO_PEERCRED)');
  return { pid: cred.readInt32LE(0), uid: cred.readUInt32LE(4), gid: cred.readUInt32LE(8) };
}

export function getpid(): number {
  return c_getpid() as number;
}

// ---------------------------------------------------------------------------
// Process privileges (used by src/agent/privileges.ts; owned by the agent).
// prctl(2), setgroups(2), setresgid(2), setresuid(2), capget/capset(2).
// glibc broadcasts setgroups/setresgid/setresuid to every thread of the
// process; prctl and capset act on the calling thread only.
// ---------------------------------------------------------------------------

const c_prctl = libc.func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)');
const c_setgroups = libc.func('int setgroups(size_t size, const uint32_t *list)');
const c_setresgid = libc.func('int setresgid(uint32_t rgid, uint32_t egid, uint32_t sgid)');
const c_setresuid = libc.func('int setresuid(uint32_t ruid, uint32_t euid, uint32_t suid)');
const c_capget = libc.func('int capget(void *hdr, _Inout_ void *data)');
const c_capset = libc.func('int capset(void *hdr, const void *data)');

export const PR_SET_KEEPCAPS = 8;
export const PR_CAPBSET_DROP = 24;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

export function prctl(option: number, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
  const r = c_prctl(option, a2, a3, a4, a5) as number;
  if (r < 0) fail(`prctl(${option})`);
  return r;
}

export function setgroups(gids: readonly number[]): void {
  const list = Buffer.alloc(Math.max(4, gids.length * 4));
  gids.forEach((g, i) => list.writeUInt32LE(g >>> 0, i * 4));
  if ((c_setgroups(gids.length, list) as number) < 0) fail('setgroups');
}

export function setresgid(gid: number): void {
  if ((c_setresgid(gid, gid, gid) as number) < 0) fail('setresgid');
}

export function setresuid(uid: number): void {
  if ((c_setresuid(uid, uid, uid) as number) < 0) fail('setresuid');
}

/** Capability sets of the calling thread as 64-bit masks (bit n = capability n). */
export interface CapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

function capHeader(): Buffer {
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
  hdr.writeInt32LE(0, 4); // 0 = this thread
  return hdr;
}

/** capget(2) with _LINUX_CAPABILITY_VERSION_3: two __user_cap_data_struct {effective, permitted, inheritable}. */
export function capget(): CapSets {
  const data = Buffer.alloc(24);
  if ((c_capget(capHeader(), data) as number) < 0) fail('capget');
  const mask = (off: number): bigint => BigInt(data.readUInt32LE(off)) | (BigInt(data.readUInt32LE(off + 12)) << 32n);
  return { effective: mask(0), permitted: mask(4), inheritable: mask(8) };
}

export function capset(sets: CapSets): void {
  const data = Buffer.alloc(24);
  const put = (off: number, m: bigint): void => {
    data.writeUInt32LE(Number(m & 0xffffffffn), off);
    data.writeUInt32LE(Number((m >> 32n) & 0xffffffffn), off + 12);
  };
  put(0, sets.effective);
  put(4, sets.permitted);
  put(8, sets.inheritable);
  if ((c_capset(capHeader(), data) as number) < 0) fail('capset');
}
