/**
 * Typed errors of the kernel interface (src/kernel).
 *
 * `KernelError`: the kernel refused a request.  It carries the errno, its
 * symbolic code, the operation, the kernel's extended-ACK message
 * (NLMSGERR_ATTR_MSG) when there was one, and a sentence telling the operator
 * what to do about the common cases.
 *
 * `KernelAlgorithmError`: a KernelError of an SA install (NEWSA, UPDSA,
 * SADB_ADD, SADB_UPDATE) that means the kernel cannot do the SA's algorithm
 * suite (no such algorithm, or its crypto module could not be loaded); it
 * names the suite and the kernel's algorithm names.
 *
 * `KernelBatchError`: several messages of one batch refused, each listed.
 *
 * `KernelValidationError`: a spec was rejected before any syscall (bad
 * algorithm, key length, address family mismatch, SPI out of range, ...).
 *
 * Neither ever carries key material: messages are built from names, numbers
 * and addresses only.
 */

import type { AlgorithmSuite } from './algorithms.js';

/** Linux errno numbers (asm-generic/errno-base.h, errno.h) we name. */
const ERRNO_CODES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  3: 'ESRCH',
  4: 'EINTR',
  5: 'EIO',
  9: 'EBADF',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES',
  14: 'EFAULT',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  22: 'EINVAL',
  28: 'ENOSPC',
  38: 'ENOSYS',
  71: 'EPROTO',
  90: 'EMSGSIZE',
  93: 'EPROTONOSUPPORT',
  95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT',
  99: 'EADDRNOTAVAIL',
  105: 'ENOBUFS',
  110: 'ETIMEDOUT',
};

export function errnoCode(errno: number): string {
  return ERRNO_CODES[errno] ?? `E${errno}`;
}

const HINTS: Record<string, string> = {
  EPROTONOSUPPORT: 'this kernel has no ESP: load esp4/esp6, or use the lab',
  ENOSYS: 'unknown algorithm: the kernel has no such cipher/hash (load its module)',
  EPERM: 'needs CAP_NET_ADMIN (run as root or grant the capability)',
  EACCES: 'needs CAP_NET_ADMIN (run as root or grant the capability)',
  EEXIST: 'an entry with this identity already exists',
  ESRCH: 'no such SA (or the ALLOCSPI placeholder expired)',
  ENOENT: 'no such entry',
  EAFNOSUPPORT: 'address family not supported by this kernel (no XFRM netlink, or no PF_KEY)',
  ETIMEDOUT: 'the kernel did not answer in time',
};

export class KernelError extends Error {
  override readonly name: string = 'KernelError';
  readonly code: string;
  constructor(
    /** Positive errno. */
    readonly errno: number,
    /** What we were doing, e.g. 'NEWSA' or 'socket'. */
    readonly op: string,
    /** The kernel's extended-ACK text, if it sent one. */
    readonly extack?: string,
    /** The message, when the default one would say less. */
    message?: string,
  ) {
    const code = errnoCode(errno);
    const hint = HINTS[code];
    super(message ?? `${op} failed: ${code}${hint ? ` (${hint})` : ''}${extack ? `: kernel says "${extack}"` : ''}`);
    this.code = code;
  }
}

/** The kernel's names of a suite's algorithms, e.g. ['cbc(aes)', 'hmac(sha256)']. */
export function kernelAlgorithmNames(suite: AlgorithmSuite): string[] {
  return [suite.aead?.xfrmName, suite.crypt?.xfrmName, suite.auth?.xfrmName].filter((n): n is string => n !== undefined);
}

export class KernelAlgorithmError extends KernelError {
  override readonly name = 'KernelAlgorithmError';
  /** The kernel's names of the suite's algorithms. */
  readonly algorithms: readonly string[];
  constructor(
    cause: KernelError,
    /** The suite the SA was to use, e.g. 'aes-gcm-256'. */
    readonly suite: string,
    algorithms: readonly string[],
  ) {
    super(
      cause.errno,
      cause.op,
      cause.extack,
      `kernel cannot do ${suite} (${algorithms.join(', ')}): ${cause.op} failed with ${cause.code} - ` +
        `crypto module missing or not loadable?${cause.extack ? ` kernel says "${cause.extack}"` : ''}`,
    );
    this.algorithms = algorithms;
  }
}

/**
 * What an SA install's failure `e` means for `suite`: a KernelAlgorithmError
 * when the kernel lacks an algorithm of it, else `e` unchanged.  The kernel
 * answers ENOSYS when the XFRM/PF_KEY algorithm table has no usable entry
 * (net/xfrm/xfrm_algo.c: the name is unknown, or probing its crypto module
 * failed), ENOENT when the entry was usable once but the crypto API cannot
 * instantiate it now (crypto_alloc_aead in esp_init_state), and EINVAL with an
 * extended ACK naming the algorithm on kernels that send one.
 */
export function algorithmFailure(e: unknown, suite: AlgorithmSuite): unknown {
  if (!(e instanceof KernelError) || e instanceof KernelAlgorithmError) return e;
  const missing =
    e.code === 'ENOSYS' || e.code === 'ENOENT' || (e.code === 'EINVAL' && e.extack !== undefined && /algorithm|crypt|aead|auth/i.test(e.extack));
  return missing ? new KernelAlgorithmError(e, suite.name, kernelAlgorithmNames(suite)) : e;
}

/**
 * Several messages of one batch (KernelIpsec.installPeer) refused: `failures`
 * holds each refusal (its op, code and extended-ACK text); code, op and
 * extack are the first one's.
 */
export class KernelBatchError extends KernelError {
  override readonly name = 'KernelBatchError';
  constructor(readonly failures: readonly KernelError[]) {
    const first = failures[0]!;
    super(first.errno, first.op, first.extack, failures.map((f) => f.message).join('; '));
  }
}

/** The error of a batch's refusals (at least one): the algorithm failure if any, the only one, or all of them. */
export function batchFailure(failures: readonly KernelError[]): KernelError {
  return failures.find((f) => f instanceof KernelAlgorithmError) ?? (failures.length === 1 ? failures[0]! : new KernelBatchError(failures));
}

export class KernelValidationError extends Error {
  override readonly name = 'KernelValidationError';
  constructor(
    /** The spec field at fault, e.g. 'spi' or 'keys.encKey'. */
    readonly field: string,
    readonly detail: string,
  ) {
    super(`invalid ${field}: ${detail}`);
  }
}

/** A netlink reply we could not decode (truncated or inconsistent). */
export class NetlinkDecodeError extends Error {
  override readonly name = 'NetlinkDecodeError';
  constructor(readonly detail: string) {
    super(`malformed netlink message: ${detail}`);
  }
}
