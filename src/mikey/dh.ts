/**
 * Diffie-Hellman for MIKEY DH mode (RFC 3830 §3.3, §4.2.7, DH payload §6.4)
 * and DHHMAC (RFC 4650), on the MODP groups of RFC 2409 (OAKLEY 1, 2),
 * RFC 3526 (5, 14), through node:crypto's built-in group parameters.
 *
 * The DH-Group codes and DH-value lengths are those of payloads/dh.ts (the
 * one table, RFC 3830 Table 6.4 plus our code 14); this module maps them to
 * OAKLEY group numbers and node's group names:
 *
 *   OAKLEY group | DH-Group (§6.4)        | node name | DH value
 *   -------------+------------------------+-----------+-----------
 *   5            | 0 OAKLEY_5             | modp5     | 192 bytes
 *   1            | 1 OAKLEY_1             | modp1     |  96 bytes
 *   2            | 2 OAKLEY_2             | modp2     | 128 bytes
 *   14           | 14 MODP_2048 (**ours**) | modp14    | 256 bytes
 *
 * The TGK of DH mode is the shared secret g^(xi*xr) (§3.3: "Both parties
 * calculate the TGK, g^(xi*xr) from the exchanged DH-values"), left-padded
 * with zeros to the prime's length (the length of the DH value field).
 */
import { createDiffieHellman, getDiffieHellman, type DiffieHellman } from 'node:crypto';
import { inspect } from 'node:util';
import { MikeyError, ErrNo } from './errors.js';
import { DhGroup, dhValueLength } from './payloads/dh.js';
import { randomBytes } from './random.js';

export type OakleyGroup = 1 | 2 | 5 | 14;

const GROUPS: Record<OakleyGroup, { name: string; code: DhGroup }> = {
  1: { name: 'modp1', code: DhGroup.OAKLEY_1 },
  2: { name: 'modp2', code: DhGroup.OAKLEY_2 },
  5: { name: 'modp5', code: DhGroup.OAKLEY_5 },
  14: { name: 'modp14', code: DhGroup.MODP_2048 },
};

function groupInfo(group: number): (typeof GROUPS)[OakleyGroup] {
  const g = (GROUPS as Record<number, (typeof GROUPS)[OakleyGroup] | undefined>)[group];
  if (!g) throw new MikeyError(ErrNo.INVALID_DH, `OAKLEY group ${group} is not supported`);
  return g;
}

/** OAKLEY group of a §6.4 DH-Group code; MikeyError(INVALID_DH) if unknown. */
export function oakleyGroupOfCode(code: number): OakleyGroup {
  for (const [g, info] of Object.entries(GROUPS)) if (info.code === code) return Number(g) as OakleyGroup;
  throw new MikeyError(ErrNo.INVALID_DH, `DH-Group ${code} is not supported`);
}

/** §6.4 DH-Group code of an OAKLEY group (14 → our code 14). */
export function dhGroupCode(group: OakleyGroup): DhGroup {
  return groupInfo(group).code;
}

/** Length in bytes of the DH value (and of the shared secret) of `group`. */
export function groupValueLength(group: OakleyGroup): number {
  return dhValueLength(groupInfo(group).code);
}

function leftPad(b: Uint8Array, len: number): Uint8Array {
  if (b.length === len) return new Uint8Array(b);
  const out = new Uint8Array(len);
  out.set(b, len - b.length);
  return out;
}

function toBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex'));
}

/**
 * Private exponents are 256 bits (RFC 3526 §8: at least twice the group's
 * strength; 128 bits covers every group here), drawn from our CSPRNG.  With a
 * safe prime p = 2q+1 any such x lies in [2, q-1].
 */
const EXPONENT_BYTES = 32;

/**
 * One node:crypto DiffieHellman object per group, made once per process:
 * constructing one runs OpenSSL's DH_check, ~40 ms for the groups OpenSSL
 * does not know by name (1 and 2), on every construction.  A key pair sets its
 * own exponent on it before each use (JavaScript is single-threaded, and no
 * call here awaits in between).
 */
const engines = new Map<OakleyGroup, { dh: DiffieHellman; prime: Uint8Array }>();

function engine(group: OakleyGroup): { dh: DiffieHellman; prime: Uint8Array } {
  let e = engines.get(group);
  if (!e) {
    const std = getDiffieHellman(groupInfo(group).name);
    e = { dh: createDiffieHellman(std.getPrime(), std.getGenerator()), prime: new Uint8Array(std.getPrime()) };
    engines.set(group, e);
  }
  return e;
}

/**
 * One side's ephemeral DH state.  `publicValue` (g^x, padded to the group
 * length) goes in the DH payload; the private exponent stays inside, is
 * invisible to inspect/JSON, and is zeroed by `wipe()` when the exchange is over.
 */
export class DhKeyPair {
  readonly group: OakleyGroup;
  readonly publicValue: Uint8Array;
  #x: Uint8Array | undefined;

  /** A fresh key pair, or (`restore`) one saved with `exportPrivateKey()`. */
  constructor(group: OakleyGroup, restore?: { privateKey: Uint8Array; publicValue: Uint8Array }) {
    const { dh } = engine(group);
    this.group = group;
    if (restore) {
      this.#x = new Uint8Array(restore.privateKey);
      this.publicValue = leftPad(restore.publicValue, groupValueLength(group));
      return;
    }
    this.#x = randomBytes(EXPONENT_BYTES);
    this.#x[0]! |= 0x80; // exactly 256 bits
    dh.setPrivateKey(this.#x);
    this.publicValue = leftPad(dh.generateKeys(), groupValueLength(group));
  }

  /** The private exponent, for a 0600 state file only (the caller wipes it). */
  exportPrivateKey(): Uint8Array {
    if (!this.#x) throw new MikeyError(ErrNo.UNSPECIFIED, 'DH state was already wiped');
    return new Uint8Array(this.#x);
  }

  /** The shared secret g^(xi*xr) with `peerValue`, zero-padded to the group length. */
  computeSecret(peerValue: Uint8Array): Uint8Array {
    if (!this.#x) throw new MikeyError(ErrNo.UNSPECIFIED, 'DH state was already wiped');
    const { dh, prime } = engine(this.group);
    validatePeerValue(this.group, prime, peerValue);
    let raw: Buffer;
    try {
      dh.setPrivateKey(this.#x);
      raw = dh.computeSecret(peerValue);
    } catch {
      throw new MikeyError(ErrNo.INVALID_DH, 'peer DH value rejected');
    }
    const secret = leftPad(raw, groupValueLength(this.group));
    raw.fill(0);
    return secret;
  }

  /**
   * Zero the private exponent.  node:crypto keeps a copy of the last exponent
   * set on the group's object in native memory that JavaScript cannot zero;
   * the next key pair of the group overwrites it.
   */
  wipe(): void {
    this.#x?.fill(0);
    this.#x = undefined;
  }

  toJSON(): object {
    return { group: this.group, publicValue: Buffer.from(this.publicValue).toString('hex') };
  }

  [inspect.custom](): string {
    return `DhKeyPair { group: ${this.group} }`;
  }
}

/** Generate an ephemeral key pair in `group` (MikeyError(INVALID_DH) for an unknown group). */
export function dhGenerate(group: OakleyGroup): DhKeyPair {
  return new DhKeyPair(group);
}

/**
 * Check a received DH value: exactly the group length (§6.4: the field has
 * the prime's length) and 1 < y < p-1 (rejects 0, 1, p-1 and values >= p,
 * which would give a trivial or invalid secret).  MikeyError(INVALID_DH).
 */
export function validatePeerValue(group: OakleyGroup, prime: Uint8Array, peerValue: Uint8Array): void {
  const len = groupValueLength(group);
  if (peerValue.length !== len) {
    throw new MikeyError(ErrNo.INVALID_DH, `DH value is ${peerValue.length} bytes, expected ${len}`);
  }
  const y = toBigInt(peerValue);
  const p = toBigInt(prime);
  if (y <= 1n || y >= p - 1n) throw new MikeyError(ErrNo.INVALID_DH, 'DH value is outside 1 < y < p-1');
}

/** Functional form: the shared secret of `keyPair` with the peer's DH value. */
export function dhCompute(keyPair: DhKeyPair, peerValue: Uint8Array): Uint8Array {
  return keyPair.computeSecret(peerValue);
}

/** The prime p of `group` (for tests and for validating values out of band). */
export function dhPrime(group: OakleyGroup): Uint8Array {
  return new Uint8Array(engine(group).prime);
}
