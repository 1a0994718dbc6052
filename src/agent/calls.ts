/**
 * The calls the daemon knows: who opened each (the owner uid), its SIP
 * identities, and, between `offer` and `confirm`, the initiator's MIKEY state
 * and the inbound SPI it reserved.  An offer not confirmed within the MIKEY
 * state's lifetime (CANCEL never sent, UA gone) expires: its state is wiped
 * and its reserved SPI given back to the kernel.  An established call can
 * hold an offer too (a rekey or move by re-INVITE): when that offer expires
 * the call itself stays, on its current SAs.  A callee's call whose pair is
 * prepared while it rings (`prepare`), and a caller's whose pair is
 * installed from a 1xx's answer (`confirm` early), wait for the step that
 * adds the policies (`activate`, the 2xx's `confirm`) at most `ttlMs`; not
 * done by then (the UA is gone, its CANCEL lost), the pair is given back as
 * on `release`.
 */
import type { InitiatorState } from '../mikey/initiator.js';
import type { CallInfo } from './protocol.js';

export interface PendingOffer {
  readonly state: InitiatorState;
  readonly inboundSpi: number;
  readonly localAddress: string;
}

interface CallRecord {
  info: CallInfo;
  pending?: PendingOffer;
  /** A prepared (ringing) call: gives its pair back. */
  unprepare?: () => Promise<unknown>;
  expiry?: NodeJS.Timeout;
}

export class CallTable {
  readonly #calls = new Map<string, CallRecord>();

  constructor(
    /** Give back a reserved SPI (delete the kernel's larval SA). */
    private readonly giveBack: (p: PendingOffer) => Promise<void>,
  ) {}

  get size(): number {
    return this.#calls.size;
  }

  get(callId: string): CallInfo | undefined {
    return this.#calls.get(callId)?.info;
  }

  list(): CallInfo[] {
    return [...this.#calls.values()].map((c) => c.info);
  }

  /** An offer for a new call, or (re-INVITE) for an established one: keep the state until confirm, release or expiry. */
  offered(info: CallInfo, pending: PendingOffer, ttlMs: number): void {
    const existing = this.#calls.get(info.callId);
    const rec: CallRecord = existing ?? { info };
    if (rec.pending) this.forgetPending(rec);
    rec.pending = pending;
    rec.expiry = setTimeout(() => {
      if (rec.info.state === 'established') this.forgetPending(rec);
      else void this.drop(info.callId);
    }, ttlMs);
    rec.expiry.unref();
    this.#calls.set(info.callId, rec);
  }

  private forgetPending(rec: CallRecord): void {
    clearTimeout(rec.expiry);
    rec.expiry = undefined;
    const p = rec.pending;
    rec.pending = undefined;
    if (!p) return;
    p.state.wipe();
    void this.giveBack(p).catch(() => undefined);
  }

  /** A ringing call whose pair is prepared: `unprepare` gives it back on drop, or after `ttlMs` without `takePrepared`. */
  prepared(info: CallInfo, ttlMs: number, unprepare: () => Promise<unknown>): void {
    const rec: CallRecord = { info, unprepare };
    rec.expiry = setTimeout(() => void this.drop(info.callId).catch(() => undefined), ttlMs);
    rec.expiry.unref();
    this.#calls.set(info.callId, rec);
  }

  /** The call was accepted: its prepared pair leaves the table's care.  False if it has none. */
  takePrepared(callId: string): boolean {
    const rec = this.#calls.get(callId);
    if (!rec?.unprepare) return false;
    clearTimeout(rec.expiry);
    rec.expiry = undefined;
    rec.unprepare = undefined;
    return true;
  }

  /** The calls whose offer waits for its response, with that offer (glare detection, service.ts). */
  offering(): { info: CallInfo; pending: PendingOffer }[] {
    return [...this.#calls.values()].flatMap((c) => (c.pending ? [{ info: c.info, pending: c.pending }] : []));
  }

  /** A call whose SAs are installed. */
  established(info: CallInfo): void {
    this.#calls.set(info.callId, { info });
  }

  /** The pending offer of a call, left in the table's care. */
  pendingOf(callId: string): PendingOffer | undefined {
    return this.#calls.get(callId)?.pending;
  }

  /** Take the pending offer of a call (it leaves the table's care). */
  takePending(callId: string): PendingOffer | undefined {
    const rec = this.#calls.get(callId);
    const p = rec?.pending;
    if (!rec || !p) return undefined;
    clearTimeout(rec.expiry);
    rec.pending = undefined;
    rec.expiry = undefined;
    return p;
  }

  /** Forget a call; wipe and give back what its offer held. */
  async drop(callId: string): Promise<void> {
    const rec = this.#calls.get(callId);
    if (!rec) return;
    this.#calls.delete(callId);
    this.forgetPending(rec);
    const unprepare = rec.unprepare;
    rec.unprepare = undefined;
    await unprepare?.();
  }

  /** Daemon shutdown: wipe every pending state (their SPIs die with the kernel's acquire timeout). */
  close(): void {
    for (const rec of this.#calls.values()) {
      clearTimeout(rec.expiry);
      rec.pending?.state.wipe();
    }
  }
}
