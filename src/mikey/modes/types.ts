/**
 * What the four mode modules (psk.ts, pke.ts, dh.ts, dhhmac.ts) share: the
 * credentials, the head of every initiator message, and the three steps each
 * mode implements (offer, responder side, initiator's check of the response).
 */
import type { KeyObject } from 'node:crypto';
import type { CsIdMap } from '../csidmap.js';
import type { DhKeyPair, OakleyGroup } from '../dh.js';
import type { CodecOptions, DecodedMessage } from '../message.js';
import type { DataType } from '../payloads/constants.js';
import type { HdrPayload } from '../payloads/hdr.js';
import type { IdPayload } from '../payloads/id.js';
import type { RandPayload } from '../payloads/rand.js';
import type { SpPayload } from '../payloads/sp.js';
import type { SignType } from '../payloads/sign.js';
import type { TPayload } from '../payloads/t.js';
import type { MikeyCertificate, SignHash } from '../pke.js';

export interface Credentials {
  /** PSK and DHHMAC: the pre-shared key. */
  readonly psk?: Uint8Array;
  /** PKE and DH: our certificate (leaf), then intermediates, and its private key. */
  readonly certificate?: MikeyCertificate;
  readonly chain?: readonly MikeyCertificate[];
  readonly privateKey?: KeyObject;
  /** PKE initiator: the responder's certificate (the envelope key is encrypted to it). */
  readonly peerCertificate?: MikeyCertificate;
  /** PKE and DH: anchors the peer's certificate chain must lead to. */
  readonly trustAnchors?: readonly MikeyCertificate[];
  /** SIGN S type (default RSA/PKCS#1/1.5) and hash (default SHA-1, pke.ts). */
  readonly signType?: SignType;
  readonly signHash?: SignHash;
}

/** The payloads every I_MESSAGE starts with: HDR, T, RAND, IDi, IDr, SP. */
export interface OfferHead {
  readonly hdr: HdrPayload;
  readonly t: TPayload;
  readonly rand: RandPayload;
  readonly idi: IdPayload;
  readonly idr: IdPayload;
  readonly sp: SpPayload;
}

export interface OfferOptions {
  readonly codec: CodecOptions;
  readonly dhGroup: OakleyGroup;
  readonly tgkLength: number;
}

/** Initiator secrets kept between offer and response. */
export interface OfferSecrets {
  /** PSK, PKE: the TGK sent in the KEMAC. */
  tgk?: Uint8Array;
  /** PSK, PKE: the §4.1.4 auth_key checking the V payload; DHHMAC: the MAC key. */
  authKey?: Uint8Array;
  /** DH, DHHMAC: our ephemeral key pair. */
  dh?: DhKeyPair;
}

/** What the initiator remembers of its own offer (no secrets). */
export interface OfferFacts {
  readonly csbId: number;
  readonly rand: Uint8Array;
  readonly idi: Uint8Array;
  readonly idr: Uint8Array;
  /** TS value bytes of our T payload. */
  readonly tI: Uint8Array;
  readonly peerId: string;
}

/** The responder's view of an authenticated offer. */
export interface AuthenticatedOffer {
  readonly tgk: Uint8Array;
  /** PSK/PKE: V key; DHHMAC: MAC key. */
  readonly authKey?: Uint8Array;
  /** DH, DHHMAC: our key pair and the initiator's DH value. */
  readonly dh?: DhKeyPair;
  readonly dhi?: { readonly group: number; readonly value: Uint8Array };
}

export interface ResponseContext {
  readonly offer: DecodedMessage;
  readonly map: CsIdMap;
  /** The offer's T: RFC 3830 §5.2 "The Responder does not create a new timestamp, but uses the timestamp used by the Initiator." */
  readonly t: TPayload;
  readonly localId: string;
  readonly codec: CodecOptions;
}

/** Responder settings a mode needs while authenticating an offer. */
export interface ResponderEnv {
  readonly nowMs: number;
  /** OAKLEY groups accepted in DH and DHHMAC offers. */
  readonly dhGroups: readonly OakleyGroup[];
}

export interface ModeHandler {
  readonly initDataType: DataType;
  readonly respDataType: DataType;
  /** Initiator: the key-carrying payloads after the head, sealed. */
  offer(head: OfferHead, creds: Credentials, opts: OfferOptions): { bytes: Uint8Array; secrets: OfferSecrets };
  /** Responder: authenticate the offer (MAC / signature) and recover the TGK. */
  authenticate(bytes: Uint8Array, msg: DecodedMessage, creds: Credentials, env: ResponderEnv): AuthenticatedOffer;
  /** Responder: the sealed response. */
  respond(ctx: ResponseContext, auth: AuthenticatedOffer, creds: Credentials): Uint8Array;
  /** Initiator: authenticate the response, return the TGK (caller wipes). */
  verify(bytes: Uint8Array, msg: DecodedMessage, facts: OfferFacts, secrets: OfferSecrets, creds: Credentials, nowMs: number): Uint8Array;
}
