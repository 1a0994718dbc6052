/**
 * The zod schema of the sipsecd configuration file (YAML), with its defaults.
 *
 * Pure: no I/O.  The schema only checks shape and values; `config.ts` reads
 * the file, maps every issue to its YAML line:column, and then loads the
 * credential files (PSK, PEM) the schema names.
 *
 * Every object is strict, so a misspelt key is an error, not a silently
 * ignored setting.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { SUITES, type SuiteName } from '../kernel/algorithms.js';

const SUITE_NAMES = SUITES.map((s) => s.name) as [SuiteName, ...SuiteName[]];
const suiteName = z.enum(SUITE_NAMES);

/** SIP Timer J = 64·T1 with T1 = 500 ms (RFC 3261 §17.2.2): how long SAs stay after the last call. */
export const DEFAULT_LINGER_SECONDS = 32;
export const DEFAULT_SOCKET_PATH = '/run/sipsec/sipsecd.sock';
export const DEFAULT_STATE_DIR = '/var/lib/sipsec';
export const DEFAULT_MINIMUM_SUITE: SuiteName = 'aes-cbc-128-hmac-sha1';
/** RFC 3948 §2.1: the IKE/ESP-in-UDP port. */
export const DEFAULT_NAT_PORT = 4500;
/** MIKEY DH groups (OAKLEY 1, 2, 5 and the 2048-bit MODP group 14). */
export const DH_GROUPS = [1, 2, 5, 14] as const;

const ipAddress = z.string().refine((s) => isIP(s) !== 0, { message: 'not an IPv4 or IPv6 address' });
const sipUri = z.string().regex(/^sips?:[^@\s]+@[^@\s]+$/i, { message: 'expected a SIP URI like sip:alice@example.org' });
/** A peer URI, or every user of a domain: `*@example.org`. */
const peerMatch = z.string().regex(/^(sips?:[^@\s*]+|\*)@[^@\s*]+$/i, {
  message: 'expected a SIP URI (sip:bob@example.org) or a domain pattern (*@example.org)',
});
const filePath = z.string().min(1).regex(/^\//, { message: 'expected an absolute path' });
const seconds = z.int().min(0);
const octalMode = z
  .string({ message: 'write the mode as a quoted octal string, e.g. "0660" (an unquoted 0660 is the decimal number 660 in YAML 1.2)' })
  .regex(/^0?[0-7]{3}$/, { message: 'expected an octal mode like "0660"' })
  .transform((s) => parseInt(s, 8));
/** A user or group: a name from /etc/passwd or /etc/group, or a numeric id. */
const principal = z.union([z.string().regex(/^[a-z_][a-z0-9_.-]*\$?$/i, { message: 'expected a user or group name' }), z.int().min(0)]);

const pskSchema = z.union([
  z.strictObject({
    file: filePath,
    /** hex: the file holds hex digits (whitespace ignored); raw: the file's bytes are the key. */
    format: z.enum(['hex', 'raw']).default('hex'),
  }),
  z.strictObject({ hex: z.string().regex(/^([0-9a-f]{2})+$/i, { message: 'expected an even number of hex digits' }) }),
]);

const identitySchema = z.strictObject({
  uri: sipUri,
  addresses: z.array(ipAddress).min(1),
});

const dhSettings = z.strictObject({ group: z.literal(DH_GROUPS).default(14) }).prefault({});
/** Our certificate (PEM), its private key (PEM, mode 0600 or stricter), and the CAs the peer must chain to. */
const certificates = {
  certificate: filePath,
  privateKey: filePath,
  trustAnchors: z.array(filePath).min(1),
};

/** One entry per peer; which credentials are needed depends on the MIKEY mode. */
const peerSchema = z.discriminatedUnion('mode', [
  z.strictObject({ match: peerMatch, mode: z.literal('psk'), psk: pskSchema }),
  z.strictObject({ match: peerMatch, mode: z.literal('dhhmac'), psk: pskSchema, dh: dhSettings }),
  z.strictObject({ match: peerMatch, mode: z.literal('dh'), ...certificates, dh: dhSettings }),
  /** pke envelopes the key to the responder: it needs the peer's certificate. */
  z.strictObject({ match: peerMatch, mode: z.literal('pke'), ...certificates, peerCertificate: filePath }),
]);

const lifetimeSchema = z.strictObject({
  seconds: seconds,
  /** 0 = no byte limit. */
  bytes: z.int().min(0).default(0),
});

export const configSchema = z
  .strictObject({
    identities: z.array(identitySchema).min(1),
    peers: z
      .array(peerSchema)
      .superRefine((peers, ctx) => {
        const seen = new Map<string, number>();
        peers.forEach((p, i) => {
          const key = p.match.toLowerCase();
          if (seen.has(key)) ctx.addIssue({ code: 'custom', path: [i, 'match'], message: `duplicate peer; first defined at peers[${seen.get(key)}]` });
          else seen.set(key, i);
        });
      })
      .default([]),
    algorithms: z
      .strictObject({
        /** Preference order, most preferred first; default: every suite at least `minimum`, strongest first. */
        suites: z.array(suiteName).min(1).optional(),
        /** The weakest suite accepted from a peer (by strength rank). */
        minimum: suiteName.default(DEFAULT_MINIMUM_SUITE),
      })
      .superRefine(({ suites, minimum }, ctx) => {
        const floor = SUITES.find((s) => s.name === minimum)!.strength;
        suites?.forEach((name, i) => {
          if (SUITES.find((s) => s.name === name)!.strength < floor) {
            ctx.addIssue({ code: 'custom', path: ['suites', i], message: `suite ${name} is weaker than the minimum ${minimum}` });
          }
        });
      })
      .prefault({}),
    protection: z
      .strictObject({
        /** hosts: all traffic between the two hosts (seed 003); media: only the SDP's media flows. */
        scope: z.enum(['hosts', 'media']).default('hosts'),
      })
      .prefault({}),
    lifetimes: z
      .strictObject({
        soft: lifetimeSchema.prefault({ seconds: 3240 }),
        hard: lifetimeSchema.prefault({ seconds: 3600 }),
      })
      .superRefine(({ soft, hard }, ctx) => {
        if (soft.seconds !== 0 && hard.seconds !== 0 && soft.seconds >= hard.seconds) {
          ctx.addIssue({ code: 'custom', path: ['soft', 'seconds'], message: 'soft lifetime must be shorter than the hard lifetime' });
        }
        if (soft.bytes !== 0 && hard.bytes !== 0 && soft.bytes >= hard.bytes) {
          ctx.addIssue({ code: 'custom', path: ['soft', 'bytes'], message: 'soft byte limit must be below the hard byte limit' });
        }
      })
      .prefault({}),
    linger: seconds.default(DEFAULT_LINGER_SECONDS),
    replay: z
      .strictObject({
        /** ESP anti-replay window in packets; 0 disables; 32 is the kernel's non-ESN bitmap. */
        window: z.int().min(0).max(32).default(32),
        /** Accepted MIKEY timestamp skew in seconds (RFC 3830 §5.4). */
        clockSkew: z.int().min(1).max(3600).default(60),
      })
      .prefault({}),
    access: z
      .strictObject({
        /** Users and groups that may use the socket (root always may). */
        users: z.array(principal).default([]),
        groups: z.array(principal).default([]),
        /** Members see and flush everything. */
        adminGroup: principal.optional(),
      })
      .prefault({}),
    socket: z
      .strictObject({
        path: filePath.default(DEFAULT_SOCKET_PATH),
        group: principal.optional(),
        mode: octalMode.default(0o660),
        /** Concurrent UA connections; more are answered `busy` (each UA process usually holds one). */
        maxConnections: z.int().min(1).max(65536).default(64),
      })
      .prefault({}),
    stateDir: filePath.default(DEFAULT_STATE_DIR),
    kernel: z.strictObject({ backend: z.enum(['xfrm', 'pfkey']).default('xfrm') }).prefault({}),
    /**
     * NAT traversal (RFC 3948 ESP-in-UDP, docs/PROFILE.md §NAT).  auto: offer it,
     * and encapsulate when the responder sees the initiator behind a NAT; off:
     * never offer nor accept it.  `port` is bound with UDP_ENCAP at start-up.
     */
    nat: z
      .strictObject({
        traversal: z.enum(['auto', 'off']).default('auto'),
        port: z.int().min(1).max(65535).default(DEFAULT_NAT_PORT),
        /** RFC 3948 §2.3 NAT keepalive interval towards NATed peers (default 20 s). */
        keepaliveSeconds: z.int().min(1).max(3600).default(20),
      })
      .prefault({}),
    /** Drop to this user after start-up (the koffi path; not needed under the systemd unit). */
    runAs: z.strictObject({ user: principal, group: principal.optional() }).optional(),
  });

/** The configuration as written (after defaults), before credential files are read. */
export type ConfigFile = z.output<typeof configSchema>;
export type PeerFileEntry = ConfigFile['peers'][number];
export type Principal = z.output<typeof principal>;
