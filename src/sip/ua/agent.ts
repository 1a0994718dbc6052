/**
 * The reference UA's call logic: REGISTER with digest authentication, calls
 * carrying MIKEY next to the SDP (multipart/mixed, seed 003 §5.2), keyed
 * through sipsecd (the `Keying` interface is SipsecClient's call half).
 *
 * Ordering beyond seed 003, so that no media packet is lost at call start:
 *   callee: INVITE -> 180 Ringing -> prepare (MIKEY response, SAs in, no policy)
 *           -> 183 Session Progress (SDP answer + MIKEY response)
 *           ... rings ... accept -> activate (policies) -> 200 OK -> ACK -> media
 *   caller: 183 -> confirm early (MIKEY verified, SAs in, no policy)
 *           ... 200 OK (same body) -> confirm (policies) -> ACK -> media
 * Both key exchanges run while the callee rings, so that accepting costs
 * each side only its policies; a call that ends while ringing gives the
 * prepared SAs back (release).  The 183 previews the answer the 200 OK
 * carries byte for byte (RFC 3261 §13.2.1); without a 183, or when its
 * MIKEY fails (a 1xx is not protected: a forged one must not end the call),
 * the caller confirms the 200 OK's in full.
 * An offer sipsecd refuses gets 488 + Warning + the MIKEY error message
 * (application/mikey); one sipsecd has no capacity for (`busy`) gets 503 +
 * Retry-After, and a caller whose own sipsecd is busy fails the call
 * locally (503) without sending the INVITE; a body the callee cannot read
 * gets 415 + Accept, and the caller then retries in clear or gives up (`fallback`), always
 * with an event.  BYE, CANCEL, timeouts and failures release the call in
 * sipsecd (its linger keeps the SAs past the transaction timers).  A
 * re-INVITE with a new MIKEY offer rekeys; sent from a new address (`move`,
 * mobility) it moves the call: the callee takes the new Contact as remote
 * target and, from the re-INVITE's ACK on, sends media to the new SDP address.  With forking only the first
 * 2xx is keyed; any other 2xx is ACKed and hung up.  A caller that confirmed
 * one fork's 183 early and gets the 2xx of another fork confirms that 2xx as
 * usual: sipsecd gives the early pair back and verifies and installs the
 * other fork's answer (it kept the offer's state until the 2xx); if that
 * fails, the call fails (ACK, BYE).
 */
import { digestAuthorization } from '../digest.js';
import { SipBodyError, SipError } from '../errors.js';
import { callId as callIdOf, cseq, fromHeader, toHeader, warnings } from '../fields.js';
import type { Header } from '../headers.js';
import type { SipRequest, SipResponse } from '../message.js';
import { buildSipsecBody, extractSipsecParts } from '../multipart.js';
import { buildAudioSdp, mediaFlows } from '../sdp.js';
import { parseSipUri } from '../uri.js';
import { type Timer } from './clock.js';
import { buildResponse, header, newCallId, newTag } from './build.js';
import { dialogNextHop, dialogRequest, inDialog, refreshTarget, uacDialog, uasDialog, uriTarget, type Dialog } from './dialog.js';
import type { Media, MediaFactory, MediaStats } from './media.js';
import { ServerTransaction, TransactionLayer, type ClientTransaction, type TransactionUser } from './transaction.js';
import { formatHostPort, type Target } from './transport.js';

/** What the callee tells sipsecd of an incoming INVITE's offer (`answer`, `prepare`). */
interface AnswerArgs {
  callId: string;
  localUri: string;
  peerUri: string;
  mikey: string;
  peerAddress: string;
  localAddress: string;
  sdp?: string;
}

/** The sipsecd operations a UA needs (SipsecClient implements them). */
export interface Keying {
  offer(args: { callId: string; localUri: string; peerUri: string; localAddress?: string }): Promise<{ mikey: string }>;
  answer(args: AnswerArgs): Promise<{ mikey: string; sas: readonly unknown[] }>;
  /** `answer` without the policies, while the callee rings; `activate` at accept. */
  prepare(args: AnswerArgs): Promise<{ mikey: string; sas: readonly unknown[] }>;
  activate(callId: string): Promise<{ sas: readonly unknown[] }>;
  /** The 2xx's answer: verify, SAs and policies; `early`: a 1xx's answer, SAs without policies (the 2xx's `confirm` adds them). */
  confirm(args: { callId: string; mikey: string; peerAddress: string; sdp?: string; early?: boolean }): Promise<{ sas: readonly unknown[] }>;
  release(callId: string): Promise<{ released: boolean }>;
}

export interface UaOptions {
  /** Address of record, e.g. sip:alice@example.org. */
  readonly uri: string;
  /** Outbound proxy and registrar, e.g. { transport: 'udp', address: '10.0.0.3', port: 5060 }. */
  readonly proxy?: Target;
  readonly auth?: { readonly username: string; readonly password: string };
  /** Offer and require MIKEY (default true). */
  readonly ipsec: boolean;
  /** When the peer cannot take MIKEY (415, or an offer without it): call in clear or refuse. */
  readonly fallback: 'refuse' | 'clear';
  /** false: act as a UA that reads only application/sdp (answers multipart with 415). */
  readonly multipart: boolean;
  /** Local media (RTP) port. */
  readonly mediaPort: number;
  readonly expires: number;
  readonly userAgent?: string;
  /** How long an incoming call rings (after 180) before this UA accepts it, ms; 0 (default): at once. */
  readonly ringMs?: number;
  /** Callee: send the answer (SDP + MIKEY response) in a 183 as soon as sipsecd prepared it (default true). */
  readonly earlyAnswer?: boolean;
}

/**
 * The instants of call setup that seed 003 fig. 12 timestamps (X1-X6 on the
 * caller, Y1-Y5 on the callee), plus when each side's session is ready:
 *
 *   caller: dial, invite-sent, ringing-received (first 180), sas-prepared
 *           (sipsecd confirmed a 183's answer: SAs in, no policy), ok-received
 *           (first 2xx), sas-installed (sipsecd confirmed: policies in),
 *           ack-sent, session-ready (media started)
 *   callee: invite-received, ringing-sent, sas-prepared (sipsecd prepared,
 *           while ringing or after accept), accepted (this UA auto-answers
 *           `ringMs` after ringing), sas-installed (sipsecd activated), ok-sent,
 *           ack-received, session-ready
 * sas-installed only on keyed calls.
 */
export type CallMark =
  | 'dial'
  | 'invite-sent'
  | 'ringing-received'
  | 'ok-received'
  | 'sas-installed'
  | 'ack-sent'
  | 'invite-received'
  | 'ringing-sent'
  | 'sas-prepared'
  | 'accepted'
  | 'ok-sent'
  | 'ack-received'
  | 'session-ready';

/** Receives each CallMark as it happens, `at` in the transaction layer's clock (ms). */
export type CallTimeline = (mark: CallMark, callId: string, at: number) => void;

/** One JSON-lines event; the CLI adds the timestamp. */
export type UaEvent = { readonly event: string; readonly callId?: string } & Record<string, unknown>;

export interface CallOutcome {
  readonly callId: string;
  readonly ok: boolean;
  readonly status?: number;
  readonly media?: MediaStats;
}

interface Call {
  readonly id: string;
  readonly role: 'caller' | 'callee';
  readonly peerUri: string;
  ipsec: boolean;
  /** sipsecd holds state for this call: release it at the end. */
  keyed: boolean;
  /** Settles when sipsecd's `prepare` (UAS) or early `confirm` (UAC) has: the release waits for it. */
  preparing?: Promise<unknown>;
  /** UAS: the body of the 183 (SDP answer + MIKEY response), which the 200 OK repeats byte for byte. */
  answerBody?: { contentType: string; body: Uint8Array };
  /** UAC: a 1xx's answer sent to sipsecd (`confirm` early); `installed` tells whether it took it. */
  early?: { tag: string | null; installed: Promise<boolean> };
  dialog?: Dialog;
  invite?: SipRequest;
  inviteTx?: ServerTransaction;
  /** UAS: the To tag of every response to the INVITE (RFC 3261 §8.2.6.2), set before the 180. */
  localTag?: string;
  /** UAC: the ACK of the accepted 2xx, resent on its retransmissions. */
  ack?: { data: Uint8Array; target: Target };
  /** UAS: 2xx retransmission until the ACK (§13.3.1.4). */
  okTimer?: Timer;
  ended: boolean;
  /** UAC: a 180 arrived (the first one is the ringing mark). */
  rang?: boolean;
  /** UAC: the INVITE client transaction under way (CANCEL refers to it). */
  inviteClientTx?: ClientTransaction;
  /** UAC: the user cancelled (`cancel`); the CANCEL goes out at the first provisional response. */
  cancelled?: boolean;
  cancelSent?: boolean;
  media?: Media;
  /** Our media port for this call (#mediaPortOf). */
  mediaPort?: number;
  peerMedia?: { address: string; port: number };
  /** UAS: the peer's new media address from a re-INVITE, used from its ACK on (its SAs are in by then). */
  movedMedia?: { address: string; port: number };
  mediaStarted: boolean;
  finish: (o: CallOutcome) => void;
  done: Promise<CallOutcome>;
}

/**
 * How long a side still counts media after its call ended: the caller from
 * the BYE's response on, the callee from the BYE on.  The peer's packets sent
 * before it knew are then in our socket's queue (or on the wire): without it
 * a loaded host reads the BYE before them and counts them as never arrived.
 */
const MEDIA_DRAIN_MS = 200;

const ACCEPT = 'application/sdp, application/mikey, multipart/mixed';
const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS';

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const unb64 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'base64'));
const enc = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'utf8'));

export class UserAgent implements TransactionUser {
  readonly #calls = new Map<string, Call>();
  readonly #user: string;
  readonly #domain: string;
  #cseq = 1;
  /** Calls answered so far (UAS), for `answer --count`. */
  readonly incoming: Promise<CallOutcome>[] = [];
  onIncoming: (done: Promise<CallOutcome>) => void = () => {};
  /** Optional call-setup timestamps (benchmarks); nothing is timed when unset. */
  timeline: CallTimeline | undefined;

  constructor(
    private readonly layer: TransactionLayer,
    private readonly opts: UaOptions,
    private readonly keying: Keying,
    private readonly media: MediaFactory,
    private readonly log: (e: UaEvent) => void,
  ) {
    const u = parseSipUri(opts.uri);
    this.#user = u.user ?? 'ua';
    this.#domain = u.host;
    layer.tu = this;
  }

  get #local(): { address: string; port: number } {
    return this.layer.transport.local;
  }

  get #contact(): string {
    return `<sip:${this.#user}@${this.#hostPort}>`;
  }

  /** Our host:port as SIP writes it (an IPv6 literal in brackets): Contact, Warning agent (RFC 3261 §25.1). */
  get #hostPort(): string {
    return formatHostPort(this.#local.address, this.#local.port);
  }

  #outbound(uri: string): Target {
    const t = this.opts.proxy ?? uriTarget(uri);
    if (t === undefined) throw new SipError(400, `no route to ${uri}: set a proxy`);
    return t;
  }

  // --- REGISTER (RFC 3261 §10.2, digest §22.2) ------------------------------

  /** Register our Contact at the registrar (the proxy); resolves with the final status. */
  register(expires = this.opts.expires): Promise<number> {
    const callId = newCallId(this.#local.address);
    const tag = newTag();
    const registrar = `sip:${this.#domain}`;
    const send = (authz: Header[], attempt: number): Promise<number> =>
      new Promise((resolve) => {
        const req: SipRequest = {
          kind: 'request',
          method: 'REGISTER',
          uri: registrar,
          headers: [
            { name: 'Max-Forwards', value: '70' },
            { name: 'From', value: `<${this.opts.uri}>;tag=${tag}` },
            { name: 'To', value: `<${this.opts.uri}>` },
            { name: 'Call-ID', value: callId },
            { name: 'CSeq', value: `${this.#cseq++} REGISTER` },
            { name: 'Contact', value: this.#contact },
            { name: 'Expires', value: String(expires) },
            ...authz,
          ],
          body: new Uint8Array(),
        };
        this.log({ event: 'register-sent', expires, attempt });
        this.layer.request(req, this.#outbound(registrar), {
          onResponse: (res) => {
            if (res.status < 200) return;
            const retry = attempt === 0 ? this.#authFor(req, res) : undefined;
            if (retry) {
              resolve(send(retry, 1));
              return;
            }
            this.log({ event: 'register-done', status: res.status });
            resolve(res.status);
          },
          onTimeout: () => {
            this.log({ event: 'register-done', status: 408 });
            resolve(408);
          },
        });
      });
    return send([], 0);
  }

  /** Credentials for a 401/407 challenge, or undefined (§22.2, RFC 7616). */
  #authFor(req: SipRequest, res: SipResponse): Header[] | undefined {
    if ((res.status !== 401 && res.status !== 407) || this.opts.auth === undefined) return undefined;
    const challenge = header(res, res.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate');
    if (challenge === undefined) return undefined;
    try {
      const value = digestAuthorization(challenge, this.opts.auth, { method: req.method, uri: req.uri, body: req.body });
      return [{ name: res.status === 401 ? 'Authorization' : 'Proxy-Authorization', value }];
    } catch (e) {
      this.log({ event: 'auth-failed', detail: (e as Error).message });
      return undefined;
    }
  }

  // --- calling (UAC) --------------------------------------------------------

  /** Call `peerUri`; resolves when the call is established (or failed): `hangup` ends it. */
  async call(peerUri: string): Promise<{ callId: string; established: Promise<boolean>; done: Promise<CallOutcome> }> {
    const call = this.#newCall(newCallId(this.#local.address), 'caller', peerUri);
    this.#mark('dial', call.id);
    call.ipsec = this.opts.ipsec;
    let established!: (ok: boolean) => void;
    const est = new Promise<boolean>((r) => (established = r));
    void call.done.then((o) => established(o.ok && call.mediaStarted));
    await this.#sendInvite(call, newTag(), [], () => established(true));
    return { callId: call.id, established: est, done: call.done };
  }

  async #sendInvite(call: Call, fromTag: string, authz: Header[], onEstablished: () => void): Promise<void> {
    let body: { contentType: string; body: Uint8Array };
    if (!(await this.#openMedia(call))) return;
    const sdp = this.#sdp(call);
    if (call.ipsec) {
      this.log({ event: 'offer-request', callId: call.id });
      try {
        const { mikey } = await this.keying.offer({ callId: call.id, localUri: this.opts.uri, peerUri: call.peerUri, localAddress: this.#local.address });
        call.keyed = true;
        this.log({ event: 'offer-made', callId: call.id, mikeyBytes: unb64(mikey).length });
        if (call.cancelled) {
          // Cancelled before any INVITE went out: nothing to CANCEL, the offer is given back.
          await this.#end(call, { callId: call.id, ok: false, status: 487 });
          return;
        }
        body = buildSipsecBody({ mikey: unb64(mikey), sdp });
      } catch (e) {
        // sipsecd at capacity: no INVITE goes out; the call fails here as a 503 would (RFC 3261 §8.1.3.1).
        const retryAfterMs = busyRetryMs(e);
        if (retryAfterMs !== undefined) {
          this.log({ event: 'call-failed', callId: call.id, reason: 'sipsecd-busy', status: 503, retryAfterMs, detail: (e as Error).message });
          await this.#end(call, { callId: call.id, ok: false, status: 503 });
          return;
        }
        this.log({ event: 'call-failed', callId: call.id, reason: 'offer', detail: (e as Error).message });
        // A timed-out offer may still be made by sipsecd: release it (PROTOCOL.md §6).
        if ((e as { code?: unknown }).code === 'timeout') call.keyed = true;
        await this.#end(call, { callId: call.id, ok: false });
        return;
      }
    } else {
      body = { contentType: 'application/sdp', body: enc(sdp) };
    }
    const invite: SipRequest = {
      kind: 'request',
      method: 'INVITE',
      uri: call.peerUri,
      headers: [
        { name: 'Max-Forwards', value: '70' },
        { name: 'From', value: `<${this.opts.uri}>;tag=${fromTag}` },
        { name: 'To', value: `<${call.peerUri}>` },
        { name: 'Call-ID', value: call.id },
        { name: 'CSeq', value: `${this.#cseq++} INVITE` },
        { name: 'Contact', value: this.#contact },
        { name: 'Allow', value: ALLOW },
        { name: 'Accept', value: ACCEPT },
        { name: 'User-Agent', value: this.opts.userAgent ?? 'sipsec-ua' },
        { name: 'Content-Type', value: body.contentType },
        ...authz,
      ],
      body: body.body,
    };
    call.invite = invite;
    let authTried = authz.length > 0;
    const tx = this.layer.request(invite, this.#outbound(call.peerUri), {
      onResponse: (res) => {
        if (res.status < 200) {
          if (call.cancelled && !call.cancelSent) this.#sendCancel(call);
          if (res.status === 180 && !call.rang) {
            call.rang = true;
            this.#mark('ringing-received', call.id);
          }
          this.log({ event: 'provisional', callId: call.id, status: res.status });
          if (res.status > 100 && res.body.length > 0) this.#onEarlyAnswer(call, res);
          return;
        }
        if (res.status < 300) {
          void this.#onInvite2xx(call, tx.request, res, onEstablished);
          return;
        }
        if (!authTried && !call.cancelled) {
          const retry = this.#authFor(invite, res);
          if (retry) {
            authTried = true;
            void this.#sendInvite(call, fromTag, retry, onEstablished);
            return;
          }
        }
        void this.#onInviteFailure(call, fromTag, res, onEstablished);
      },
      onTimeout: () => {
        this.log({ event: 'call-failed', callId: call.id, status: 408, reason: 'timeout' });
        void this.#end(call, { callId: call.id, ok: false, status: 408 });
      },
    });
    call.inviteClientTx = tx;
    this.#mark('invite-sent', call.id);
    this.log({ event: 'invite-sent', callId: call.id, bytes: tx.size, transport: tx.target.transport, mikey: call.ipsec });
  }

  /**
   * A 1xx with the callee's answer (its 183 while it rings): sipsecd
   * verifies the MIKEY response and installs the SA pair, no policy, so
   * that the 2xx costs only the policies.  Only the first such answer, on a
   * call that keys and is not being cancelled.  One that sipsecd refuses changes
   * nothing: logged, and the 2xx is confirmed in full.
   */
  #onEarlyAnswer(call: Call, res: SipResponse): void {
    if (!call.ipsec || !call.keyed || call.cancelled || call.ended || call.dialog !== undefined || call.early !== undefined) return;
    const parts = safe(() => extractSipsecParts(header(res, 'Content-Type') ?? 'application/octet-stream', res.body));
    const flow = parts?.sdp === undefined ? undefined : safe(() => mediaFlows(parts.sdp!)[0]);
    if (parts?.mikey === undefined || flow === undefined) return;
    this.log({ event: 'early-confirm-request', callId: call.id, status: res.status });
    const installed = this.keying.confirm({ callId: call.id, mikey: b64(parts.mikey), peerAddress: flow.address, sdp: parts.sdp, early: true }).then(
      ({ sas }) => {
        this.#mark('sas-prepared', call.id);
        this.log({ event: 'sas-prepared', callId: call.id, role: 'caller', sas: sas.length });
        return true;
      },
      (e: unknown) => {
        const code = (e as { code?: unknown }).code;
        this.log({ event: 'early-confirm-failed', callId: call.id, code: typeof code === 'string' ? code : 'error', detail: (e as Error).message });
        return false;
      },
    );
    call.early = { tag: safe(() => toHeader(res).tag) ?? null, installed };
    call.preparing = installed;
  }

  async #onInviteFailure(call: Call, fromTag: string, res: SipResponse, onEstablished: () => void): Promise<void> {
    const warning = safe(() => warnings(res).map((w) => `${w.code} ${w.agent} "${w.text}"`).join(', ')) ?? '';
    const retryAfter = header(res, 'Retry-After');
    this.log({
      event: 'invite-rejected',
      callId: call.id,
      status: res.status,
      warning,
      mikeyError: /mikey/i.test(header(res, 'Content-Type') ?? ''),
      ...(retryAfter !== undefined ? { retryAfter } : {}),
    });
    if (res.status === 415 && call.ipsec && !call.cancelled) {
      await this.#release(call);
      if (this.opts.fallback === 'clear') {
        this.log({ event: 'fallback', callId: call.id, to: 'clear', reason: 'peer cannot read multipart/MIKEY (415)' });
        call.ipsec = false;
        await this.#sendInvite(call, fromTag, [], onEstablished);
        return;
      }
      this.log({ event: 'fallback', callId: call.id, to: 'refuse', reason: 'peer cannot read multipart/MIKEY (415)' });
    }
    await this.#end(call, { callId: call.id, ok: false, status: res.status });
  }

  async #onInvite2xx(call: Call, invite: SipRequest, res: SipResponse, onEstablished: () => void): Promise<void> {
    const tag = safe(() => toHeader(res).tag);
    if (call.dialog !== undefined) {
      if (tag === call.dialog.remoteTag) {
        if (call.ack) this.layer.send(call.ack.target, call.ack.data); // 2xx retransmission: same ACK
        return;
      }
      // Another fork answered too (§13.2.2.4): ACK it and hang it up, unkeyed.
      const other = uacDialog(invite, res);
      this.log({ event: 'fork-extra-2xx', callId: call.id, remoteTag: tag ?? null });
      this.#sendAck(other);
      const bye = dialogRequest(other, 'BYE', [], new Uint8Array());
      this.layer.request(bye, dialogNextHop(bye) ?? this.#outbound(bye.uri), { onResponse: () => {}, onTimeout: () => {} });
      return;
    }
    this.#mark('ok-received', call.id);
    const dialog = uacDialog(invite, res);
    call.dialog = dialog;
    this.log({ event: '2xx-received', callId: call.id, status: res.status, bytes: res.body.length });
    if (call.ended || call.cancelled) {
      // Answered before our CANCEL got there (§9.1, §15): the call exists; end it with BYE, never keyed.
      this.#sendAck(dialog);
      await this.#bye(call);
      return;
    }
    try {
      const parts = res.body.length === 0 ? {} : extractSipsecParts(header(res, 'Content-Type') ?? 'application/octet-stream', res.body);
      if (parts.sdp === undefined) throw new SipError(488, '2xx without SDP');
      const flow = mediaFlows(parts.sdp)[0];
      if (flow === undefined) throw new SipError(488, 'answer SDP has no media');
      call.peerMedia = { address: flow.address, port: flow.port };
      if (call.ipsec) {
        if (parts.mikey === undefined) {
          if (this.opts.fallback !== 'clear') throw new SipError(488, '2xx without MIKEY and fallback is refuse');
          this.log({ event: 'fallback', callId: call.id, to: 'clear', reason: '2xx without MIKEY' });
          await this.#release(call);
        } else {
          // After an early confirm sipsecd adds only the policies if this is the 183's answer, refuses any other.
          const early = call.early !== undefined && (await call.early.installed);
          this.log({ event: 'confirm-request', callId: call.id, early, ...(early && call.early!.tag !== tag ? { fork: 'other' } : {}) });
          const { sas } = await this.keying.confirm({ callId: call.id, mikey: b64(parts.mikey), peerAddress: flow.address, sdp: parts.sdp });
          this.#mark('sas-installed', call.id);
          this.log({ event: 'sas-installed', callId: call.id, role: 'caller', sas: sas.length });
        }
      }
    } catch (e) {
      this.log({ event: 'call-failed', callId: call.id, reason: 'answer', detail: (e as Error).message });
      this.#sendAck(dialog);
      await this.#bye(call);
      return;
    }
    this.#sendAck(dialog);
    this.#mark('ack-sent', call.id);
    this.log({ event: 'ack-sent', callId: call.id });
    await this.#startMedia(call);
    onEstablished();
  }

  #sendAck(d: Dialog): void {
    const ack = dialogRequest(d, 'ACK', [], new Uint8Array(), d.localSeq);
    const sent = this.layer.sendStateless(ack, dialogNextHop(ack) ?? this.#outbound(ack.uri));
    const call = this.#calls.get(d.callId);
    if (call?.dialog === d) call.ack = sent;
  }

  /** Send a re-INVITE with a fresh MIKEY offer (on 'rekey-needed' or on request). */
  async rekey(callId: string): Promise<boolean> {
    const call = this.#calls.get(callId);
    if (call === undefined || call.dialog === undefined || call.ended || !call.ipsec) return false;
    const dialog = call.dialog;
    this.log({ event: 'rekey-start', callId });
    let offer: string;
    try {
      offer = (await this.keying.offer({ callId, localUri: this.opts.uri, peerUri: call.peerUri, localAddress: this.#local.address })).mikey;
    } catch (e) {
      this.log({ event: 'rekey-failed', callId, detail: (e as Error).message });
      return false;
    }
    const body = buildSipsecBody({ mikey: unb64(offer), sdp: this.#sdp(call) });
    const req = dialogRequest(dialog, 'INVITE', [
      { name: 'Contact', value: this.#contact },
      { name: 'Content-Type', value: body.contentType },
    ], body.body);
    return new Promise((resolve) => {
      this.layer.request(req, dialogNextHop(req) ?? this.#outbound(req.uri), {
        onResponse: (res) => {
          if (res.status < 200) return;
          if (res.status >= 300) {
            this.log({ event: 'rekey-failed', callId, status: res.status });
            resolve(false);
            return;
          }
          void (async () => {
            try {
              refreshTarget(dialog, res);
              const parts = extractSipsecParts(header(res, 'Content-Type') ?? '', res.body);
              if (parts.mikey === undefined) throw new SipError(488, 're-INVITE 2xx without MIKEY');
              const { sas } = await this.keying.confirm({ callId, mikey: b64(parts.mikey), peerAddress: call.peerMedia?.address ?? '', sdp: parts.sdp });
              this.#sendAck(dialog);
              this.log({ event: 'rekey-done', callId, sas: sas.length });
              resolve(true);
            } catch (e) {
              this.#sendAck(dialog);
              this.log({ event: 'rekey-failed', callId, detail: (e as Error).message });
              resolve(false);
            }
          })();
        },
        onTimeout: () => {
          this.log({ event: 'rekey-failed', callId, status: 408 });
          resolve(false);
        },
      });
    });
  }

  /**
   * Our address changed and the transport listens on the new one already:
   * move each established call's media there and re-INVITE it with a new
   * MIKEY offer from the new address (its SAs move in sipsecd).  Resolves
   * with the calls that moved.
   */
  async move(): Promise<string[]> {
    const address = this.#local.address;
    this.log({ event: 'move-start', address });
    const moved: string[] = [];
    for (const id of this.activeCalls()) {
      const call = this.#calls.get(id)!;
      try {
        await call.media?.rebind(address);
      } catch (e) {
        this.log({ event: 'media-failed', callId: id, detail: (e as Error).message });
        continue;
      }
      if (await this.rekey(id)) moved.push(id);
    }
    this.log({ event: 'move-done', address, calls: moved });
    return moved;
  }

  /** End a call: BYE when established; a call of ours not answered yet is cancelled (`cancel`). */
  async hangup(callId: string): Promise<CallOutcome | undefined> {
    const call = this.#calls.get(callId);
    if (call === undefined) return undefined;
    if (call.dialog && !call.ended) await this.#bye(call);
    else if (!call.dialog && call.role === 'caller') return this.cancel(callId);
    return call.done;
  }

  /**
   * Cancel a call of ours before its final response (§9.1): the CANCEL goes
   * out once a provisional response has come (at once if one has; never
   * before one), the callee answers it 200 and the INVITE 487, and the call
   * ends releasing sipsecd's offer, which gives its SPI back.  A 2xx that
   * crossed the CANCEL is ACKed and hung up (BYE), unkeyed.  No final
   * response 64*T1 after the CANCEL: the call ends anyway.  Resolves with
   * the outcome (status 487 when cancelled); an answered call is left alone
   * (hang it up).
   */
  async cancel(callId: string): Promise<CallOutcome | undefined> {
    const call = this.#calls.get(callId);
    if (call === undefined || call.role !== 'caller') return undefined;
    if (call.ended || call.dialog || call.cancelled) return call.done;
    call.cancelled = true;
    this.log({ event: 'cancel-requested', callId });
    if (call.inviteClientTx?.state === 'proceeding') this.#sendCancel(call);
    return call.done;
  }

  #sendCancel(call: Call): void {
    const invite = call.inviteClientTx;
    if (invite === undefined) return;
    call.cancelSent = true;
    this.layer.cancel(invite, {
      onResponse: (res) => {
        if (res.status >= 200) this.log({ event: 'cancel-done', callId: call.id, status: res.status });
      },
      onTimeout: () => this.log({ event: 'cancel-done', callId: call.id, status: 408 }),
    });
    this.log({ event: 'cancel-sent', callId: call.id });
    this.layer.clock.after(64 * this.layer.timers.t1, () => {
      if (call.ended || call.dialog) return;
      this.log({ event: 'call-failed', callId: call.id, status: 487, reason: 'no final response to the cancelled INVITE' });
      void this.#end(call, { callId: call.id, ok: false, status: 487 });
    });
  }

  async #bye(call: Call): Promise<void> {
    const d = call.dialog;
    if (d === undefined) return;
    call.media?.stop(); // and count what the peer sends until it has our BYE
    const bye = dialogRequest(d, 'BYE', [], new Uint8Array());
    this.log({ event: 'bye-sent', callId: call.id });
    const status = await new Promise<number>((resolve) => {
      this.layer.request(bye, dialogNextHop(bye) ?? this.#outbound(bye.uri), {
        onResponse: (res) => res.status >= 200 && resolve(res.status),
        onTimeout: () => resolve(408),
      });
    });
    this.log({ event: 'bye-done', callId: call.id, status });
    const stats = await this.#stopMedia(call);
    await this.#end(call, { callId: call.id, ok: call.mediaStarted, status, ...(stats ? { media: stats } : {}) });
  }

  // --- answering (UAS) ------------------------------------------------------

  onRequest(req: SipRequest, tx: ServerTransaction): void {
    const id = safe(() => callIdOf(req));
    const call = id === undefined ? undefined : this.#calls.get(id);
    const respond = (status: number, extra: Header[] = []): void => tx.respond(buildResponse(req, status, { toTag: newTag(), headers: extra }));
    switch (req.method) {
      case 'INVITE':
        if (call?.dialog && inDialog(call.dialog, req)) void this.#onReInvite(call, req, tx);
        else if ((call === undefined || (call.ended && !call.dialog)) && safe(() => toHeader(req).tag) === null) void this.#onInvite(req, tx); // a retry after 415/401 reuses the Call-ID
        else respond(481);
        return;
      case 'BYE':
        if (call?.dialog && inDialog(call.dialog, req)) {
          respond(200);
          void this.#onBye(call);
        } else respond(481);
        return;
      case 'CANCEL': {
        const inviteTx = this.layer.inviteFor(req);
        respond(inviteTx ? 200 : 481);
        if (inviteTx && call && inviteTx.state === 'proceeding') {
          call.okTimer?.cancel();
          inviteTx.respond(buildResponse(inviteTx.request, 487, { toTag: call.dialog?.localTag ?? call.localTag ?? newTag() }));
          this.log({ event: 'cancelled', callId: call.id });
          void this.#end(call, { callId: call.id, ok: false, status: 487 });
        }
        return;
      }
      case 'OPTIONS':
        respond(200, [{ name: 'Allow', value: ALLOW }, { name: 'Accept', value: ACCEPT }]);
        return;
      default:
        respond(405, [{ name: 'Allow', value: ALLOW }]);
    }
  }

  async #onInvite(req: SipRequest, tx: ServerTransaction): Promise<void> {
    const peerUri = fromHeader(req).uri;
    const call = this.#newCall(callIdOf(req), 'callee', peerUri);
    this.#mark('invite-received', call.id);
    call.inviteTx = tx;
    call.invite = req;
    this.incoming.push(call.done);
    this.onIncoming(call.done);
    const localTag = (call.localTag = newTag());
    const type = header(req, 'Content-Type') ?? 'application/sdp';
    this.log({ event: 'invite-received', callId: call.id, from: peerUri, bytes: req.body.length, contentType: type.split(';')[0] });
    const reject = async (status: number, extra: Header[], body?: Uint8Array): Promise<void> => {
      tx.respond(buildResponse(req, status, { toTag: localTag, headers: extra, ...(body ? { body } : {}) }));
      this.log({ event: 'invite-refused', callId: call.id, status });
      await this.#end(call, { callId: call.id, ok: false, status });
    };
    let parts: { mikey?: Uint8Array; sdp?: string };
    try {
      if (!this.opts.multipart && !/^application\/sdp\b/i.test(type)) throw new SipBodyError(415, 'this UA reads application/sdp only');
      parts = req.body.length === 0 ? {} : extractSipsecParts(type, req.body);
    } catch (e) {
      const status = e instanceof SipError ? e.status : 400;
      const accept = this.opts.multipart ? ACCEPT : 'application/sdp';
      await reject(status, status === 415 ? [{ name: 'Accept', value: accept }] : []);
      return;
    }
    const flow = parts.sdp === undefined ? undefined : safe(() => mediaFlows(parts.sdp!)[0]);
    if (flow === undefined) {
      await reject(488, [{ name: 'Warning', value: `304 ${this.#hostPort} "no usable media in SDP"` }]);
      return;
    }
    call.peerMedia = { address: flow.address, port: flow.port };
    const sdp = this.#sdp(call);
    let body: { contentType: string; body: Uint8Array } = { contentType: 'application/sdp', body: enc(sdp) };
    const keyed = parts.mikey !== undefined && this.opts.ipsec;
    if (!keyed && this.opts.ipsec && this.opts.fallback !== 'clear') {
      await reject(488, [{ name: 'Warning', value: `399 ${this.#hostPort} "IPsec (MIKEY) required"` }]);
      return;
    }
    tx.respond(buildResponse(req, 180, { toTag: localTag, headers: [{ name: 'Contact', value: this.#contact }] }));
    this.#mark('ringing-sent', call.id);
    this.log({ event: 'ringing-sent', callId: call.id });
    // The key exchange and both SAs while it rings; only the policies wait for accept.
    let prepared: Promise<{ mikey: string }> | undefined;
    if (keyed) {
      this.log({ event: 'prepare-request', callId: call.id });
      call.keyed = true;
      prepared = this.keying.prepare({
        callId: call.id,
        localUri: this.opts.uri,
        peerUri,
        mikey: b64(parts.mikey!),
        peerAddress: flow.address,
        localAddress: this.#local.address,
        sdp: parts.sdp,
      });
      call.preparing = prepared.then(
        () => this.#mark('sas-prepared', call.id),
        () => undefined,
      );
    }
    const progress = keyed && this.opts.earlyAnswer !== false ? this.#sessionProgress(call, req, tx, localTag, sdp, prepared!) : undefined;
    await this.#ring(prepared);
    if (call.ended) return; // CANCELled while ringing: #end released what sipsecd prepared
    // This UA answers by itself: it accepts the call `ringMs` after it rings.
    this.#mark('accepted', call.id);
    if (keyed) {
      try {
        const { mikey } = await prepared!;
        if (call.ended) return; // CANCELled while sipsecd prepared: #end released it
        this.log({ event: 'activate-request', callId: call.id });
        const { sas } = await this.keying.activate(call.id);
        this.#mark('sas-installed', call.id);
        this.log({ event: 'sas-installed', callId: call.id, role: 'callee', sas: sas.length });
        await progress; // the 183 goes before the 200 OK, whose body is its body
        body = call.answerBody ??= buildSipsecBody({ mikey: unb64(mikey), sdp });
      } catch (e) {
        const extra = (e as { extra?: Record<string, unknown> }).extra ?? {};
        const code = (e as { code?: unknown }).code;
        const why = typeof code === 'string' ? code : 'error';
        const headers: Header[] = [{ name: 'Warning', value: typeof extra.warning === 'string' ? extra.warning : `399 ${this.#hostPort} "sipsecd: ${why}"` }];
        const mikeyErr = typeof extra.mikey === 'string' ? unb64(extra.mikey) : undefined;
        if (mikeyErr) headers.push({ name: 'Content-Type', value: 'application/mikey' });
        const retryAfterMs = busyRetryMs(e);
        if (retryAfterMs !== undefined) headers.push(retryAfterHeader(retryAfterMs));
        this.log({ event: 'answer-refused', callId: call.id, code: why, detail: (e as Error).message, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
        await this.#release(call);
        if (!call.ended) await reject(retryAfterMs !== undefined ? 503 : typeof extra.sipStatus === 'number' ? extra.sipStatus : 488, headers, mikeyErr);
        return;
      }
    } else if (this.opts.ipsec) {
      this.log({ event: 'fallback', callId: call.id, to: 'clear', reason: 'offer without MIKEY' });
    }
    if (call.ended) return; // CANCELled while sipsecd activated
    if (!(await this.#openMedia(call))) return;
    call.dialog = uasDialog(req, localTag);
    const ok = buildResponse(req, 200, {
      toTag: localTag,
      headers: [{ name: 'Contact', value: this.#contact }, { name: 'Content-Type', value: body.contentType }],
      body: body.body,
    });
    tx.respond(ok);
    this.#mark('ok-sent', call.id);
    this.log({ event: '200-sent', callId: call.id, bytes: body.body.length });
    // §13.3.1.4: retransmit the 2xx (T1, 2*T1 ... T2) until the ACK; give up after 64*T1.
    const { t1, t2 } = this.layer.timers;
    const started = this.layer.clock.now();
    let interval = t1;
    const again = (): void => {
      if (call.ended || call.mediaStarted) return;
      if (this.layer.clock.now() - started >= 64 * t1) {
        this.log({ event: 'call-failed', callId: call.id, reason: 'no ACK' });
        void this.#bye(call);
        return;
      }
      tx.respond(ok);
      interval = Math.min(2 * interval, t2);
      call.okTimer = this.layer.clock.after(interval, again);
    };
    call.okTimer = this.layer.clock.after(interval, again);
  }

  /**
   * 183 Session Progress with the answer (SDP + MIKEY response) once
   * sipsecd prepared it, so that the caller keys while we ring.  RFC 3261
   * §13.2.1: an answer in an unreliable 1xx is a preview of the 2xx's, which
   * must carry the same: the body is kept (`answerBody`) for the 200 OK.
   * Nothing is sent if sipsecd refused (the 488 follows) or the call ended.
   */
  async #sessionProgress(call: Call, req: SipRequest, tx: ServerTransaction, localTag: string, sdp: string, prepared: Promise<{ mikey: string }>): Promise<void> {
    const mikey = await prepared.then(
      (r) => r.mikey,
      () => undefined,
    );
    // The media socket is bound before our SDP goes out (#openMedia).
    if (mikey === undefined || call.ended || !(await this.#openMedia(call))) return;
    if (call.ended) {
      await this.#stopMedia(call); // CANCELled while the socket was bound
      return;
    }
    const body = (call.answerBody = buildSipsecBody({ mikey: unb64(mikey), sdp }));
    tx.respond(
      buildResponse(req, 183, {
        toTag: localTag,
        headers: [{ name: 'Contact', value: this.#contact }, { name: 'Content-Type', value: body.contentType }],
        body: body.body,
      }),
    );
    this.log({ event: 'progress-sent', callId: call.id, status: 183, bytes: body.body.length });
  }

  /** Ring `ringMs` (the user picks up); an offer sipsecd refuses ends the ringing at once. */
  #ring(prepared: Promise<unknown> | undefined): Promise<void> {
    const ms = this.opts.ringMs ?? 0;
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.layer.clock.after(ms, resolve);
      prepared?.catch(() => {
        timer.cancel();
        resolve();
      });
    });
  }

  async #onReInvite(call: Call, req: SipRequest, tx: ServerTransaction): Promise<void> {
    const d = call.dialog!;
    d.remoteSeq = cseq(req).seq;
    refreshTarget(d, req);
    this.log({ event: 'reinvite-received', callId: call.id });
    try {
      const parts = extractSipsecParts(header(req, 'Content-Type') ?? '', req.body);
      // The peer may have moved (mobility): its new SDP names where it is now.
      const flow = parts.sdp === undefined ? undefined : safe(() => mediaFlows(parts.sdp!)[0]);
      const peerMedia = flow ? { address: flow.address, port: flow.port } : call.peerMedia;
      let body: { contentType: string; body: Uint8Array } = { contentType: 'application/sdp', body: enc(this.#sdp(call)) };
      if (parts.mikey !== undefined) {
        const ans = await this.keying.answer({
          callId: call.id,
          localUri: this.opts.uri,
          peerUri: call.peerUri,
          mikey: b64(parts.mikey),
          peerAddress: peerMedia?.address ?? '',
          localAddress: this.#local.address,
          ...(parts.sdp ? { sdp: parts.sdp } : {}),
        });
        this.log({ event: 'rekey-done', callId: call.id, sas: ans.sas.length });
        body = buildSipsecBody({ mikey: unb64(ans.mikey), sdp: this.#sdp(call) });
      }
      if (peerMedia && (peerMedia.address !== call.peerMedia?.address || peerMedia.port !== call.peerMedia.port)) call.movedMedia = peerMedia;
      tx.respond(buildResponse(req, 200, { headers: [{ name: 'Contact', value: this.#contact }, { name: 'Content-Type', value: body.contentType }], body: body.body }));
    } catch (e) {
      const extra = (e as { extra?: Record<string, unknown> }).extra ?? {};
      const warning = typeof extra.warning === 'string' ? extra.warning : `399 ${this.#hostPort} "re-INVITE refused"`;
      const retryAfterMs = busyRetryMs(e);
      const headers: Header[] = [{ name: 'Warning', value: warning }, ...(retryAfterMs !== undefined ? [retryAfterHeader(retryAfterMs)] : [])];
      tx.respond(buildResponse(req, retryAfterMs !== undefined ? 503 : 488, { headers }));
      this.log({ event: 'rekey-failed', callId: call.id, detail: (e as Error).message, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    }
  }

  onAck(req: SipRequest): void {
    const call = this.#calls.get(safe(() => callIdOf(req)) ?? '');
    if (call === undefined || call.dialog === undefined || !inDialog(call.dialog, req) || call.role !== 'callee') return;
    call.okTimer?.cancel();
    if (call.mediaStarted) {
      // The ACK of a re-INVITE that moved the peer: its SAs at the new address are in, send there.
      const moved = call.movedMedia;
      if (moved === undefined) return;
      call.movedMedia = undefined;
      call.peerMedia = moved;
      call.media?.start(moved);
      this.log({ event: 'media-moved', callId: call.id, to: formatHostPort(moved.address, moved.port) });
      return;
    }
    this.#mark('ack-received', call.id);
    this.log({ event: 'ack-received', callId: call.id });
    void this.#startMedia(call);
  }

  onStrayResponse(res: SipResponse): void {
    // A 2xx retransmission after Timer M: resend our ACK.
    const call = this.#calls.get(safe(() => callIdOf(res)) ?? '');
    if (call?.ack && res.status >= 200 && res.status < 300) this.layer.send(call.ack.target, call.ack.data);
  }

  async #onBye(call: Call): Promise<void> {
    this.log({ event: 'bye-received', callId: call.id });
    call.okTimer?.cancel();
    const stats = await this.#stopMedia(call);
    await this.#end(call, { callId: call.id, ok: call.mediaStarted, status: 200, ...(stats ? { media: stats } : {}) });
  }

  // --- shared ---------------------------------------------------------------

  #newCall(id: string, role: 'caller' | 'callee', peerUri: string): Call {
    let finish!: (o: CallOutcome) => void;
    const done = new Promise<CallOutcome>((r) => (finish = r));
    const call: Call = { id, role, peerUri, ipsec: this.opts.ipsec, keyed: false, ended: false, mediaStarted: false, finish, done };
    this.#calls.set(id, call);
    return call;
  }

  #mark(mark: CallMark, callId: string): void {
    if (this.timeline) this.timeline(mark, callId, this.layer.clock.now());
  }

  #sdp(call: Call): string {
    const sessionId = String(Date.now());
    return buildAudioSdp({ address: this.#local.address, port: this.#mediaPortOf(call), sessionId, username: this.#user });
  }

  /**
   * Each call up at once gets its own media port: the configured one, else
   * the next even one (RTP, RFC 3550 §11) that no other call of this UA holds.
   */
  #mediaPortOf(call: Call): number {
    if (call.mediaPort !== undefined) return call.mediaPort;
    const taken = new Set([...this.#calls.values()].filter((c) => c !== call && !c.ended).map((c) => c.mediaPort));
    let port = this.opts.mediaPort;
    while (taken.has(port)) port += 2;
    return (call.mediaPort = port);
  }

  /**
   * Bind the media socket before our SDP goes out (INVITE / 200 OK): the
   * peer may send as soon as it has the ACK, and a packet to a port nobody
   * listens on yet would be lost at call start.
   */
  async #openMedia(call: Call): Promise<boolean> {
    if (call.media) return true;
    try {
      call.media = await this.media({ address: this.#local.address, port: this.#mediaPortOf(call) });
      return true;
    } catch (e) {
      this.log({ event: 'media-failed', callId: call.id, detail: (e as Error).message });
      await this.#end(call, { callId: call.id, ok: false, status: 500 });
      return false;
    }
  }

  async #startMedia(call: Call): Promise<void> {
    if (call.mediaStarted || call.peerMedia === undefined || call.ended || call.media === undefined) return;
    call.mediaStarted = true;
    call.media.start(call.peerMedia);
    this.#mark('session-ready', call.id);
    this.log({ event: 'media-start', callId: call.id, to: `${call.peerMedia.address}:${call.peerMedia.port}`, encrypted: call.ipsec });
  }

  /** Close the call's media (after MEDIA_DRAIN_MS when it ran); its counts if it ran. */
  async #stopMedia(call: Call): Promise<MediaStats | undefined> {
    const media = call.media;
    if (media === undefined) return undefined;
    call.media = undefined;
    const stats = await media.close(call.mediaStarted ? MEDIA_DRAIN_MS : 0);
    if (!call.mediaStarted) return undefined;
    this.log({ event: 'media-stats', callId: call.id, ...stats });
    return stats;
  }

  async #release(call: Call): Promise<void> {
    if (!call.keyed) return;
    call.keyed = false;
    // A prepare still under way (CANCEL while ringing): release after it, or its SAs would stay.
    await call.preparing;
    try {
      const r = await this.keying.release(call.id);
      this.log({ event: 'released', callId: call.id, released: r.released });
    } catch (e) {
      this.log({ event: 'release-failed', callId: call.id, detail: (e as Error).message });
    }
  }

  async #end(call: Call, outcome: CallOutcome): Promise<void> {
    if (call.ended) return;
    call.ended = true;
    call.okTimer?.cancel();
    await this.#stopMedia(call);
    await this.#release(call);
    this.log({ event: 'call-ended', callId: call.id, ok: outcome.ok, status: outcome.status ?? null });
    call.finish(outcome);
  }

  /** Call-IDs of calls still up (for rekey on 'rekey-needed'). */
  activeCalls(): string[] {
    return [...this.#calls.values()].filter((c) => !c.ended && c.dialog).map((c) => c.id);
  }
}

/** sipsecd refused a request as `busy` (at capacity): its retry hint in ms (PROTOCOL.md §5); undefined for any other failure. */
function busyRetryMs(e: unknown): number | undefined {
  if ((e as { code?: unknown }).code !== 'busy') return undefined;
  const ms = (e as { extra?: Record<string, unknown> }).extra?.retryAfterMs;
  return typeof ms === 'number' && ms >= 0 ? ms : 1000;
}

/**
 * RFC 3261 §20.33 Retry-After, on a 503 (§21.5.4: the UAS is overloaded; the
 * client may retry after this long):
 *
 *   Retry-After  =  "Retry-After" HCOLON delta-seconds [ comment ] *( SEMI retry-param )
 *
 * delta-seconds are whole seconds: the daemon's hint rounded up, at least 1.
 */
function retryAfterHeader(ms: number): Header {
  return { name: 'Retry-After', value: String(Math.max(1, Math.ceil(ms / 1000))) };
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}


