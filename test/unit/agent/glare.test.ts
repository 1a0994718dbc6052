import { describe, expect, it } from 'vitest';
import { glareWinner } from '../../../src/agent/service.js';

// Two crossing exchanges: x initiated by alice (host a), y by bob (host b).
const x = { initiatorUri: 'sip:alice@example.org', csbId: 7 };
const y = { initiatorUri: 'sip:bob@example.org', csbId: 3 };

describe('glareWinner (simultaneous offers)', () => {
  it('both daemons pick the same exchange, whichever of the two is their own', () => {
    // a sees (ours = x, answered = y); b sees (ours = y, answered = x).
    expect(glareWinner(x, y)).toBe(x);
    expect(glareWinner(y, x)).toBe(x);
  });

  it('compares normalised URIs (case of scheme and host, parameters)', () => {
    const upper = { initiatorUri: 'SIP:alice@EXAMPLE.ORG;transport=tcp', csbId: 7 };
    expect(glareWinner(upper, y)).toBe(upper);
    expect(glareWinner(y, upper)).toBe(upper);
  });

  it('the same user on both hosts: the lower CSB ID wins', () => {
    const mine = { initiatorUri: 'sip:alice@example.org', csbId: 0x9000_0000 };
    const theirs = { initiatorUri: 'sip:alice@example.org', csbId: 0x1000_0000 };
    expect(glareWinner(mine, theirs)).toBe(theirs);
    expect(glareWinner(theirs, mine)).toBe(theirs);
  });
});
