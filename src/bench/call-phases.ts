/**
 * The per-phase delays ∂1-∂7 of seed 003 fig. 12/13, from the marks a UA
 * prints with `--timeline` (CallMark): each ∂ is the difference of two
 * marks of one UA, as in the seed.
 *
 *   ∂1 caller  dial → INVITE sent            ∂5 caller  200 OK received → ACK sent
 *   ∂2 caller  dial → 180 Ringing received   ∂6 caller  200 OK received → session ready
 *   ∂3 callee  INVITE received → 180 sent       (SAs installed, media started)
 *   ∂4 callee  accept → 200 OK sent          ∂7 callee  accept → ACK received
 *
 * Shared by the call-setup benchmark (many calls) and `npm run demo` (one).
 */
import type { CallMark } from '../sip/ua/agent.js';
import type { UaEventLine } from '../lab/demo-lab.js';

export interface Delta {
  readonly id: string;
  readonly what: string;
  readonly side: 'caller' | 'callee';
  readonly from: CallMark;
  readonly to: CallMark;
}

export const DELTAS: readonly Delta[] = [
  { id: '∂1', what: 'dial → INVITE sent', side: 'caller', from: 'dial', to: 'invite-sent' },
  { id: '∂2', what: 'dial → 180 received (calling delay)', side: 'caller', from: 'dial', to: 'ringing-received' },
  { id: '∂3', what: 'INVITE received → 180 sent', side: 'callee', from: 'invite-received', to: 'ringing-sent' },
  { id: '∂4', what: 'accept → 200 OK sent', side: 'callee', from: 'accepted', to: 'ok-sent' },
  { id: '∂5', what: '200 OK received → ACK sent', side: 'caller', from: 'ok-received', to: 'ack-sent' },
  { id: '∂6', what: '200 OK received → session ready', side: 'caller', from: 'ok-received', to: 'session-ready' },
  { id: '∂7', what: 'accept → ACK received (answering delay)', side: 'callee', from: 'accepted', to: 'ack-received' },
];

/** Seed 003 fig. 13 (REFERENCE.md §3), mean ms over 8 calls: no security, MIKEY/SRTP, MIKEY/ESP. */
export const SEED = {
  'no security': [4.6, 23.2, 8.0, 2.4, 3.0, 4.1, 12.4],
  'MIKEY/SRTP': [7.5, 29.0, 9.9, 3.1, 3.1, 4.8, 13.5],
  'MIKEY/ESP': [7.8, 32.3, 9.8, 691.3, 3.2, 704.0, 704.4],
} as const;

/** One UA's marks of one call: mark → epoch ms (the first of each). */
export type CallMarks = Partial<Record<CallMark, number>>;

export class MissingMarkError extends Error {
  override readonly name = 'MissingMarkError';
  constructor(
    readonly side: 'caller' | 'callee',
    readonly mark: CallMark,
  ) {
    super(`no ${side} mark ${mark}`);
  }
}

/** callId → marks, from a UA's `timeline` events. */
export function marksOf(events: readonly UaEventLine[]): Map<string, CallMarks> {
  const m = new Map<string, CallMarks>();
  for (const e of events) {
    if (e.event !== 'timeline' || e.callId === undefined) continue;
    const marks = m.get(e.callId) ?? {};
    marks[e.mark as CallMark] ??= e.at as number;
    m.set(e.callId, marks);
  }
  return m;
}

/**
 * `to` − `from` on one side, ms.  A 180 that the proxy forwarded after the
 * 200 OK (another worker) is a stray response: no ∂2 (NaN).  Any other
 * missing mark throws MissingMarkError.
 */
export function span(marks: { readonly caller: CallMarks; readonly callee: CallMarks }, side: 'caller' | 'callee', from: CallMark, to: CallMark): number {
  const a = marks[side][from];
  const b = marks[side][to];
  if (to === 'ringing-received' && b === undefined) return NaN;
  if (a === undefined) throw new MissingMarkError(side, from);
  if (b === undefined) throw new MissingMarkError(side, to);
  return b - a;
}

/** ∂1..∂7 of one call, ms, in DELTAS order. */
export function callDeltas(marks: { readonly caller: CallMarks; readonly callee: CallMarks }): number[] {
  return DELTAS.map((x) => span(marks, x.side, x.from, x.to));
}
