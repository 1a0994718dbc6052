/**
 * The SIP transaction layer (RFC 3261 §17, with the RFC 6026 "Accepted"
 * state for INVITE 2xx).  Four state machines:
 *
 *   INVITE client (§17.1.1)      Calling -1xx-> Proceeding -2xx-> Accepted (Timer M)
 *                                   |  Timer A: retransmit (UDP), T1, 2*T1, 4*T1 ...
 *                                   |  Timer B: 64*T1 in Calling -> timeout
 *                                   +-300..699-> Completed: ACK (same branch), Timer D 32 s (UDP) / 0
 *   non-INVITE client (§17.1.2)  Trying -1xx-> Proceeding -final-> Completed (Timer K: T4 / 0)
 *                                   Timer E: retransmit, min(2^n*T1, T2), T2 once Proceeding
 *                                   Timer F: 64*T1 -> timeout
 *   INVITE server (§17.2.1)      Proceeding (100 sent at once) -2xx-> Accepted (Timer L 64*T1)
 *                                   +-300..699-> Completed: Timer G retransmit (UDP) up to T2,
 *                                     Timer H 64*T1 -> no ACK; ACK -> Confirmed, Timer I (T4 / 0)
 *   non-INVITE server (§17.2.2)  Trying -> Proceeding -> Completed (Timer J: 64*T1 / 0)
 *
 * Matching (§17.1.3, §17.2.3): responses by top Via branch + CSeq method;
 * requests by branch + sent-by + method, ACK matching its INVITE.  An ACK
 * for a 2xx (own branch) and a 2xx after the transaction ended go to the
 * core (onAck, onStrayResponse).  On a reliable transport (TCP) the
 * retransmit timers are not set and D, I, J, K are zero.
 */
import { vias, cseq, type Via } from '../fields.js';
import { serializeSipMessage, type SipMessage, type SipRequest, type SipResponse } from '../message.js';
import { type Clock, type Timer } from './clock.js';
import { buildResponse, header, newBranch } from './build.js';
import { formatHostPort, UDP_SIZE_LIMIT, type Target, type Transport } from './transport.js';

export interface TimerValues {
  /** RTT estimate, 500 ms (§17.1.1.1). */
  readonly t1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s. */
  readonly t2: number;
  /** Maximum time a message stays in the network, 5 s. */
  readonly t4: number;
}

export const DEFAULT_TIMERS: TimerValues = { t1: 500, t2: 4000, t4: 5000 };

export type ClientState = 'calling' | 'trying' | 'proceeding' | 'accepted' | 'completed' | 'terminated';
export type ServerState = 'trying' | 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';

export interface ClientHandlers {
  onResponse(res: SipResponse): void;
  /** Timer B or F fired, or the transport failed: act as on a 408 (§8.1.3.1). */
  onTimeout(): void;
}

const reliable = (t: Target): boolean => t.transport === 'tcp';

const topVia = (msg: SipMessage): Via | undefined => vias(msg)[0];

/**
 * Serialize `req` for `target`, switching UDP to TCP when the message is
 * over 1300 bytes (§18.1.1); the top Via's transport is set to match.
 */
function encodeRequest(req: SipRequest, target: Target, sentBy: string, branch: string): { data: Uint8Array; target: Target; req: SipRequest } {
  const withVia = (t: Target): SipRequest => ({
    ...req,
    headers: [{ name: 'Via', value: `SIP/2.0/${t.transport.toUpperCase()} ${sentBy};branch=${branch};rport` }, ...req.headers],
  });
  let r = withVia(target);
  let data = serializeSipMessage(r);
  if (target.transport === 'udp' && data.length > UDP_SIZE_LIMIT) {
    target = { ...target, transport: 'tcp' };
    r = withVia(target);
    data = serializeSipMessage(r);
  }
  return { data, target, req: r };
}

export class ClientTransaction {
  state: ClientState;
  readonly branch: string;
  readonly request: SipRequest;
  readonly target: Target;
  readonly #data: Uint8Array;
  #ack: Uint8Array | undefined;
  #retransmit: Timer | undefined;
  #timeout: Timer | undefined;
  #interval: number;

  constructor(
    private readonly layer: TransactionLayer,
    req: SipRequest,
    target: Target,
    private readonly handlers: ClientHandlers,
    branch = newBranch(),
  ) {
    this.branch = branch;
    const enc = encodeRequest(req, target, layer.sentBy, this.branch);
    this.request = enc.req;
    this.target = enc.target;
    this.#data = enc.data;
    const invite = req.method === 'INVITE';
    this.state = invite ? 'calling' : 'trying';
    const { t1 } = layer.timers;
    this.#interval = t1;
    layer.send(this.target, this.#data);
    if (!reliable(this.target)) this.#retransmit = layer.clock.after(t1, () => this.#onRetransmit());
    this.#timeout = layer.clock.after(64 * t1, () => this.#onTimeout());
  }

  /** Bytes on the wire (decides UDP or TCP). */
  get size(): number {
    return this.#data.length;
  }

  get method(): string {
    return this.request.method;
  }

  /** Timer A (INVITE) / Timer E (non-INVITE). */
  #onRetransmit(): void {
    if (this.state !== 'calling' && this.state !== 'trying' && this.state !== 'proceeding') return;
    if (this.method === 'INVITE' && this.state !== 'calling') return;
    this.layer.send(this.target, this.#data);
    const { t2 } = this.layer.timers;
    this.#interval = this.method === 'INVITE' ? this.#interval * 2 : this.state === 'proceeding' ? t2 : Math.min(this.#interval * 2, t2);
    this.#retransmit = this.layer.clock.after(this.#interval, () => this.#onRetransmit());
  }

  /** Timer B / Timer F. */
  #onTimeout(): void {
    if (this.state === 'calling' || this.state === 'trying' || (this.state === 'proceeding' && this.method !== 'INVITE')) {
      this.#terminate();
      this.handlers.onTimeout();
    }
  }

  /** The transport could not deliver the request (§17.1.4). */
  transportError(): void {
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'accepted') return;
    this.#terminate();
    this.handlers.onTimeout();
  }

  receive(res: SipResponse): void {
    if (this.method === 'INVITE') this.#receiveInvite(res);
    else this.#receiveNonInvite(res);
  }

  #receiveInvite(res: SipResponse): void {
    const { t1 } = this.layer.timers;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (res.status < 200) {
          this.state = 'proceeding';
          this.#retransmit?.cancel();
          this.handlers.onResponse(res);
        } else if (res.status < 300) {
          this.#stopTimers();
          this.state = 'accepted';
          this.#timeout = this.layer.clock.after(64 * t1, () => this.#terminate()); // Timer M (RFC 6026 §8.4)
          this.handlers.onResponse(res);
        } else {
          this.#stopTimers();
          this.state = 'completed';
          this.#ack = serializeSipMessage(this.#ackFor(res));
          this.layer.send(this.target, this.#ack);
          this.#timeout = this.layer.clock.after(reliable(this.target) ? 0 : 32_000, () => this.#terminate()); // Timer D
          this.handlers.onResponse(res);
        }
        return;
      case 'accepted':
        if (res.status >= 200 && res.status < 300) this.handlers.onResponse(res); // 2xx retransmission or another fork
        return;
      case 'completed':
        if (res.status >= 300 && this.#ack) this.layer.send(this.target, this.#ack);
        return;
      default:
        return;
    }
  }

  #receiveNonInvite(res: SipResponse): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    if (res.status < 200) {
      this.state = 'proceeding';
      this.handlers.onResponse(res);
      return;
    }
    this.#stopTimers();
    this.state = 'completed';
    this.#timeout = this.layer.clock.after(reliable(this.target) ? 0 : this.layer.timers.t4, () => this.#terminate()); // Timer K
    this.handlers.onResponse(res);
  }

  /** ACK for a non-2xx final response (§17.1.1.3): same branch, To from the response. */
  #ackFor(res: SipResponse): SipRequest {
    const req = this.request;
    const pick = (name: string) => req.headers.filter((h) => h.name.toLowerCase() === name.toLowerCase());
    return {
      kind: 'request',
      method: 'ACK',
      uri: req.uri,
      headers: [
        ...pick('Via').slice(0, 1),
        ...pick('Route'),
        ...pick('From'),
        { name: 'To', value: header(res, 'To') ?? '' },
        ...pick('Call-ID'),
        { name: 'CSeq', value: `${cseq(req).seq} ACK` },
        { name: 'Max-Forwards', value: '70' },
      ],
      body: new Uint8Array(),
    };
  }

  #stopTimers(): void {
    this.#retransmit?.cancel();
    this.#timeout?.cancel();
  }

  #terminate(): void {
    this.#stopTimers();
    this.state = 'terminated';
    this.layer.forgetClient(this);
  }
}

export class ServerTransaction {
  state: ServerState;
  readonly key: string;
  #last: Uint8Array | undefined;
  #retransmit: Timer | undefined;
  #timeout: Timer | undefined;
  /** Called when an INVITE's non-2xx response got no ACK (Timer H). */
  onNoAck: () => void = () => {};
  /** Called when the transaction ends. */
  onTerminated: () => void = () => {};

  constructor(
    private readonly layer: TransactionLayer,
    readonly request: SipRequest,
    readonly from: Target,
    key: string,
  ) {
    this.key = key;
    this.state = request.method === 'INVITE' ? 'proceeding' : 'trying';
    if (request.method === 'INVITE') this.respond(buildResponse(request, 100));
  }

  /** Send a response built with buildResponse (§17.2.1 / §17.2.2 TU side). */
  respond(res: SipResponse): void {
    const { t1, t2 } = this.layer.timers;
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'confirmed') return;
    const data = serializeSipMessage(res);
    const invite = this.request.method === 'INVITE';
    if (this.state === 'accepted') {
      if (res.status >= 200 && res.status < 300) this.layer.send(this.from, data); // UAS core's 2xx retransmission
      return;
    }
    this.#last = data;
    this.layer.send(this.from, data);
    if (res.status < 200) {
      if (!invite) this.state = 'proceeding';
      return;
    }
    if (invite && res.status < 300) {
      this.state = 'accepted';
      this.#timeout = this.layer.clock.after(64 * t1, () => this.#terminate()); // Timer L (RFC 6026 §8.7)
      return;
    }
    this.state = 'completed';
    if (!invite) {
      this.#timeout = this.layer.clock.after(reliable(this.from) ? 0 : 64 * t1, () => this.#terminate()); // Timer J
      return;
    }
    if (!reliable(this.from)) {
      let interval = t1;
      const g = (): void => {
        if (this.state !== 'completed' || this.#last === undefined) return;
        this.layer.send(this.from, this.#last);
        interval = Math.min(2 * interval, t2);
        this.#retransmit = this.layer.clock.after(interval, g);
      };
      this.#retransmit = this.layer.clock.after(interval, g); // Timer G
    }
    this.#timeout = this.layer.clock.after(64 * t1, () => {
      // Timer H
      this.#terminate();
      this.onNoAck();
    });
  }

  /** A retransmission of the request, or the ACK of a non-2xx final response. */
  receive(req: SipRequest): void {
    if (req.method === 'ACK') {
      if (this.state !== 'completed') return;
      this.state = 'confirmed';
      this.#retransmit?.cancel();
      this.#timeout?.cancel();
      this.#timeout = this.layer.clock.after(reliable(this.from) ? 0 : this.layer.timers.t4, () => this.#terminate()); // Timer I
      return;
    }
    if ((this.state === 'proceeding' || this.state === 'completed') && this.#last) this.layer.send(this.from, this.#last);
  }

  #terminate(): void {
    this.#retransmit?.cancel();
    this.#timeout?.cancel();
    this.state = 'terminated';
    this.layer.forgetServer(this);
    this.onTerminated();
  }
}

export interface TransactionUser {
  /** A new request (not ACK), with its server transaction. */
  onRequest(req: SipRequest, tx: ServerTransaction): void;
  /** An ACK that matches no transaction: the ACK of a 2xx (§13.3.1.4). */
  onAck(req: SipRequest, from: Target): void;
  /** A response that matches no transaction (e.g. a 2xx retransmission after Timer M). */
  onStrayResponse(res: SipResponse): void;
}

export class TransactionLayer {
  readonly #clients = new Map<string, ClientTransaction>();
  readonly #servers = new Map<string, ServerTransaction>();
  tu: TransactionUser | undefined;

  constructor(
    readonly transport: Transport,
    readonly clock: Clock,
    readonly timers: TimerValues = DEFAULT_TIMERS,
  ) {
    transport.onMessage = (msg, from) => this.#receive(msg, from);
  }

  get sentBy(): string {
    return formatHostPort(this.transport.local.address, this.transport.local.port);
  }

  send(target: Target, data: Uint8Array): void {
    this.transport.send(target, data);
  }

  /** Start a client transaction; the request gets our Via (with a new branch) on top. */
  request(req: SipRequest, target: Target, handlers: ClientHandlers): ClientTransaction {
    const tx = new ClientTransaction(this, req, target, handlers);
    this.#clients.set(`${tx.branch}|${req.method}`, tx);
    return tx;
  }

  /**
   * CANCEL a pending INVITE (§9.1), as a non-INVITE client transaction: the
   * INVITE's Request-URI, Call-ID, From, To, CSeq number and Route, and its
   * top Via (same branch, so every hop matches it to the INVITE), sent where
   * the INVITE went.  Only after a provisional response (§9.1): the UA checks.
   *
   *   CANCEL sip:bob@example.org SIP/2.0
   *   Via: SIP/2.0/UDP 10.0.0.1:5060;branch=<the INVITE's>;rport
   *   Max-Forwards: 70
   *   From: <sip:alice@example.org>;tag=a    To: <sip:bob@example.org>
   *   Call-ID: <the INVITE's>                CSeq: <n> CANCEL
   */
  cancel(invite: ClientTransaction, handlers: ClientHandlers): ClientTransaction {
    const req = invite.request;
    const pick = (name: string) => req.headers.filter((h) => h.name.toLowerCase() === name.toLowerCase());
    const cancel: SipRequest = {
      kind: 'request',
      method: 'CANCEL',
      uri: req.uri,
      headers: [
        ...pick('Route'),
        { name: 'Max-Forwards', value: '70' },
        ...pick('From'),
        ...pick('To'),
        ...pick('Call-ID'),
        { name: 'CSeq', value: `${cseq(req).seq} CANCEL` },
      ],
      body: new Uint8Array(),
    };
    const tx = new ClientTransaction(this, cancel, invite.target, handlers, invite.branch);
    this.#clients.set(`${tx.branch}|CANCEL`, tx);
    return tx;
  }

  /**
   * Send a request outside any transaction: the ACK of a 2xx (§13.2.2.4),
   * with a new branch.  Returns the bytes and the transport used, so the
   * caller can resend the same ACK on a 2xx retransmission.
   */
  sendStateless(req: SipRequest, target: Target): { data: Uint8Array; target: Target } {
    const enc = encodeRequest(req, target, this.sentBy, newBranch());
    this.send(enc.target, enc.data);
    return { data: enc.data, target: enc.target };
  }

  /** The INVITE server transaction a CANCEL refers to (§9.2), if it still exists. */
  inviteFor(cancel: SipRequest): ServerTransaction | undefined {
    const key = serverKey(cancel, 'INVITE');
    return key === undefined ? undefined : this.#servers.get(key);
  }

  forgetClient(tx: ClientTransaction): void {
    const key = `${tx.branch}|${tx.method}`;
    if (this.#clients.get(key) === tx) this.#clients.delete(key);
  }

  forgetServer(tx: ServerTransaction): void {
    if (this.#servers.get(tx.key) === tx) this.#servers.delete(tx.key);
  }

  #receive(msg: SipMessage, from: Target): void {
    if (this.tu === undefined) return;
    let via: Via | undefined;
    let method: string;
    try {
      via = topVia(msg);
      method = cseq(msg).method;
    } catch (e) {
      this.transport.onError(`dropped a message: ${(e as Error).message}`);
      return;
    }
    if (msg.kind === 'response') {
      const tx = via?.branch ? this.#clients.get(`${via.branch}|${method}`) : undefined;
      if (tx) tx.receive(msg);
      else this.tu.onStrayResponse(msg);
      return;
    }
    if (via === undefined) {
      this.transport.onError('dropped a request without Via');
      return;
    }
    const key = serverKey(msg, msg.method === 'ACK' ? 'INVITE' : msg.method);
    const existing = key === undefined ? undefined : this.#servers.get(key);
    if (existing) {
      // An ACK for a 2xx has its own branch, so it lands below; one for a non-2xx lands here.
      existing.receive(msg);
      return;
    }
    if (msg.method === 'ACK') {
      this.tu.onAck(msg, from);
      return;
    }
    const tx = new ServerTransaction(this, msg, from, key ?? `${Math.random()}`);
    this.#servers.set(tx.key, tx);
    this.tu.onRequest(msg, tx);
  }
}

/** §17.2.3: branch + sent-by + method. */
function serverKey(req: SipMessage, method: string): string | undefined {
  const first = topVia(req);
  if (first === undefined) return undefined;
  return `${first.branch ?? ''}|${first.host}:${first.port ?? 5060}|${method}`;
}

