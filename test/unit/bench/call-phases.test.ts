// ∂1-∂7 from --timeline marks (shared by the call-setup benchmark and the demo).
import { describe, expect, it } from 'vitest';
import { callDeltas, marksOf, MissingMarkError, span } from '../../../src/bench/call-phases.js';
import type { UaEventLine } from '../../../src/lab/demo-lab.js';

const line = (callId: string, mark: string, at: number): UaEventLine => ({ t: at, event: 'timeline', callId, mark, at });

const caller = [
  line('c1', 'dial', 1000),
  line('c1', 'invite-sent', 1005),
  line('c1', 'ringing-received', 1030),
  line('c1', 'ok-received', 1100),
  line('c1', 'ack-sent', 1104),
  line('c1', 'session-ready', 1106),
  line('c1', 'ok-received', 1300), // a retransmitted 2xx: the first mark counts
];
const callee = [
  line('c1', 'invite-received', 1010),
  line('c1', 'ringing-sent', 1018),
  line('c1', 'accepted', 1018),
  line('c1', 'ok-sent', 1095),
  line('c1', 'ack-received', 1110),
];

describe('call phases', () => {
  it('computes ∂1-∂7 from the first of each mark, per call', () => {
    const m = { caller: marksOf(caller).get('c1')!, callee: marksOf(callee).get('c1')! };
    expect(callDeltas(m)).toEqual([5, 30, 8, 77, 4, 6, 92]);
    expect(marksOf([...caller, { t: 0, event: 'media-start', callId: 'c1' }]).size).toBe(1);
  });

  it('gives no ∂2 when the 180 came after the 200 OK, and names any other missing mark', () => {
    const m = { caller: marksOf(caller.filter((e) => e.mark !== 'ringing-received')).get('c1')!, callee: marksOf(callee).get('c1')! };
    expect(callDeltas(m)[1]).toBeNaN();
    expect(() => span({ ...m, callee: {} }, 'callee', 'accepted', 'ok-sent')).toThrow(MissingMarkError);
    expect(() => span(m, 'caller', 'dial', 'sas-installed')).toThrow('no caller mark sas-installed');
  });
});
