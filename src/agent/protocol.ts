/**
 * The sipsecd control protocol, version 1 (docs/PROTOCOL.md): the argument
 * schema of every operation (the server validates with them, the client
 * types its methods with them), the result and event shapes, and the error
 * codes.  Shared by src/agent/server.ts and src/client/.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;

const callId = z.string().min(1).max(512);
const sipUri = z.string().regex(/^sips?:\S+$/i, { message: 'expected a SIP URI' }).max(1024);
const ipAddress = z.union([z.ipv4(), z.ipv6()], { message: 'expected an IPv4 or IPv6 address' });
/** A MIKEY message, base64 (RFC 4648 §4, with padding). */
const mikey = z.base64().min(4);

export const EVENT_NAMES = ['rekey-needed', 'sa-expired', 'peer-sas-replaced', 'nat-rebound'] as const;
export type EventName = (typeof EVENT_NAMES)[number];

/** What the callee's daemon needs of an INVITE: `answer` and `prepare`. */
const answerArgs = z.strictObject({
  callId,
  localUri: sipUri,
  peerUri: sipUri,
  mikey,
  peerAddress: ipAddress,
  localAddress: ipAddress,
  /** Our address as the outside sees it (Via received of our REGISTER's response, STUN), when behind a NAT. */
  publicAddress: ipAddress.optional(),
  sdp: z.string().max(32 * 1024).optional(),
});

export const argSchemas = {
  /** The UA is about to send an INVITE: make the initiator's MIKEY message. */
  offer: z.strictObject({ callId, localUri: sipUri, peerUri: sipUri, localAddress: ipAddress.optional() }),
  /** The UA received an INVITE carrying MIKEY: check it, install SAs, make the response. */
  answer: answerArgs,
  /** The UA rings (180 sent): check the offer, make the response, install both SAs but no policy; `activate` at accept. */
  prepare: answerArgs,
  /** The user accepted a prepared call: its SAs take over the traffic (policies, or a make-before-break switch). */
  activate: z.strictObject({ callId }),
  /**
   * The UA received the 200 OK: verify the responder's MIKEY message and install SAs.  `early`: the
   * message came in a 1xx (183 while the callee rings): verify it and install both SAs but no policy;
   * the `confirm` of the 2xx then adds the policies if its message is the same bytes.
   */
  confirm: z.strictObject({ callId, mikey, peerAddress: ipAddress, sdp: z.string().max(32 * 1024).optional(), early: z.boolean().optional() }),
  /** The call ended (BYE, CANCEL, failure): release its SAs (they linger, see `linger`). */
  release: z.strictObject({ callId }),
  status: z.strictObject({}),
  peers: z.strictObject({}),
  /** SAs (never keys); optionally of one call. */
  sas: z.strictObject({ callId: callId.optional() }),
  calls: z.strictObject({}),
  /** Ask the UAs of a peer's calls to rekey now (re-INVITE with a new offer): admin, or a UA with a call there. */
  rekey: z.strictObject({ peer: ipAddress }),
  /** Remove every SA and policy sipsecd installed (admin only). */
  flush: z.strictObject({}),
  /** Receive events on this connection; no list = all events. */
  subscribe: z.strictObject({ events: z.array(z.enum(EVENT_NAMES)).optional() }),
  ping: z.strictObject({}),
  /**
   * The daemon's page faults and memory, and where requests spend their time when phase timing is on.
   * Admin only: `reset` starts the phase samples afresh, `phases` turns phase timing on or off (after reporting).
   */
  stats: z.strictObject({ reset: z.boolean().optional(), phases: z.boolean().optional() }),
} as const;

export type Op = keyof typeof argSchemas;
export const OPS = Object.keys(argSchemas) as Op[];
export type ArgsOf<O extends Op> = z.input<(typeof argSchemas)[O]>;
export type ParsedArgsOf<O extends Op> = z.output<(typeof argSchemas)[O]>;

/** SPIs on the wire of this protocol and in logs: "0x" + 8 hex digits. */
export function formatSpi(spi: number): string {
  return '0x' + spi.toString(16).padStart(8, '0');
}

/** One SA as reported by `sas` and in `confirm`/`answer` results: never key material. */
export interface SaInfo {
  readonly callId?: string;
  readonly direction: 'in' | 'out';
  /** "0x" + 8 hex digits. */
  readonly spi: string;
  readonly src: string;
  readonly dst: string;
  readonly suite: string;
  readonly bytes?: number;
  readonly packets?: number;
  /** Unix seconds. */
  readonly addedAt?: number;
}

/** One peer host with SAs: the pair shared by all its calls (never keys). */
export interface PeerInfo {
  /** "local|peer". */
  readonly key: string;
  readonly local: string;
  readonly peer: string;
  readonly reqid: number;
  readonly inSpi: number;
  readonly outSpi: number;
  readonly suite: string;
  readonly calls: readonly string[];
  /** Epoch ms at which a peer without calls loses its SAs. */
  readonly lingerUntil?: number;
  readonly installedAt: number;
  readonly selectors: readonly { readonly src: string; readonly dst: string; readonly proto?: string | number; readonly srcPort?: number; readonly dstPort?: number }[];
}

export interface CallInfo {
  readonly callId: string;
  readonly ownerUid: number;
  readonly localUri: string;
  readonly peerUri: string;
  readonly state: string;
  /** Unix seconds. */
  readonly createdAt: number;
}

export interface MikeyResult {
  /** Base64 MIKEY message for the SIP body part. */
  readonly mikey: string;
  readonly contentType: 'application/mikey';
}

export interface ResultMap {
  offer: MikeyResult;
  answer: MikeyResult & { readonly sas: readonly SaInfo[] };
  prepare: MikeyResult & { readonly sas: readonly SaInfo[] };
  activate: { readonly sas: readonly SaInfo[] };
  confirm: { readonly sas: readonly SaInfo[] };
  release: { readonly released: boolean };
  status: {
    readonly version: string;
    readonly protocol: number;
    readonly uptimeSeconds: number;
    readonly backend: 'xfrm' | 'pfkey';
    readonly calls: number;
    readonly sas: number;
    /** Why the last save of the persisted state failed (full disk, read-only file system); absent when it succeeded. */
    readonly stateError?: string;
  };
  peers: { readonly peers: readonly PeerInfo[] };
  sas: { readonly sas: readonly SaInfo[] };
  calls: { readonly calls: readonly CallInfo[] };
  flush: { readonly removed: number };
  rekey: { readonly calls: readonly string[] };
  subscribe: { readonly events: readonly EventName[] };
  ping: { readonly pong: true; readonly protocol: number };
  stats: {
    readonly pid: number;
    /** Since the daemon started (getrusage). */
    readonly minorPageFaults: number;
    readonly majorPageFaults: number;
    readonly rssBytes: number;
    /** Only with phase timing on (SIPSECD_PHASES=1, or `phases: true`): per op, per phase and `total`, the last 4096 requests' n, p50, p90, p99, mean in µs. */
    readonly phases?: Readonly<Record<string, Readonly<Record<string, { readonly n: number; readonly p50: number; readonly p90: number; readonly p99: number; readonly mean: number }>>>>;
  };
}
export type ResultOf<O extends Op> = ResultMap[O];

export interface EventMap {
  /** An SA reached its soft lifetime: the UA should re-INVITE to rekey. */
  'rekey-needed': { readonly callId: string; readonly spi: string };
  /** An SA reached its hard lifetime and is gone. */
  'sa-expired': { readonly callId?: string; readonly spi: string };
  /** A new call with the same peer replaced this call's SAs. */
  'peer-sas-replaced': { readonly callId: string; readonly peerUri: string };
  /** The NAT in front of the peer rebound to a new port; the call's SAs now send to it (docs/PROFILE.md §10). */
  'nat-rebound': { readonly callId: string; readonly peerAddress: string; readonly port: number };
}
export type SipsecEvent = { [E in EventName]: { readonly event: E; readonly data: EventMap[E] } }[EventName];

/**
 * Error codes.  Protocol-level: bad-json, bad-request, unsupported-version,
 * unknown-op, invalid-args, frame-too-large, busy, timeout, forbidden,
 * not-implemented, internal.  Handlers add their own (e.g. mikey-rejected,
 * no-such-call, no-peer, kernel).
 */
export type ErrorCode =
  | 'bad-json'
  | 'bad-request'
  | 'unsupported-version'
  | 'unknown-op'
  | 'invalid-args'
  | 'frame-too-large'
  | 'busy'
  | 'timeout'
  | 'forbidden'
  | 'not-implemented'
  | 'internal'
  | (string & {});

export interface ErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
  /** Extra fields such as sipStatus, mikey (base64 error message), mikeyErr, issues, retryAfterMs (busy). */
  readonly [extra: string]: unknown;
}

export interface RequestFrame<O extends Op = Op> {
  readonly v: typeof PROTOCOL_VERSION;
  readonly id: number;
  readonly op: O;
  readonly args: ArgsOf<O>;
}

export type ResponseFrame =
  | { readonly v: number; readonly id: number | null; readonly ok: true; readonly result: unknown }
  | { readonly v: number; readonly id: number | null; readonly ok: false; readonly error: ErrorBody };

export interface EventFrame {
  readonly v: number;
  readonly event: EventName;
  readonly data: unknown;
}

/** Request ids: non-negative integers below 2^53 (JSON numbers every language reads exactly). */
export function isRequestId(id: unknown): id is number {
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0;
}
