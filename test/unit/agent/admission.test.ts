// Admission control (src/agent/admission.ts) on a manual clock: the limit
// adapts to the latency of what it admitted, new work is refused once a turn
// of the event loop has run past the queue-delay target, urgent requests pass
// up to the hard cap, and the retry hint is the refused backlog at the
// completion rate.
import { describe, expect, it } from 'vitest';
import { Admission, MIN_NEW_PER_TURN } from '../../../src/agent/admission.js';

function admission(max = 8, targetMs = 100, queueTargetMs = 1000) {
  const clock = { t: 0 };
  const a = new Admission({ max, targetMs, queueTargetMs, now: () => clock.t, random: () => 0.5 });
  /** Admit `n` requests that each take `ms`, one after the other. */
  const serve = (n: number, ms: number) => {
    for (let i = 0; i < n; i++) {
      a.tick();
      const over = a.admit(false)!;
      clock.t += ms;
      over();
    }
  };
  return { a, clock, serve };
}

describe('admission', () => {
  it('starts at the hard cap and refuses beyond it, urgent or not', () => {
    const { a } = admission(3);
    const held = [a.admit(false), a.admit(false), a.admit(true)];
    expect(held.every((h) => h !== undefined)).toBe(true);
    expect(a.admit(false)).toBeUndefined();
    expect(a.refusedFor).toBe('3 requests in flight, limit 3');
    expect(a.admit(true)).toBeUndefined();
    held[0]!();
    held[0]!(); // twice is once
    expect(a.inFlight).toBe(2);
    expect(a.admit(false)).toBeDefined();
  });

  it('lowers the limit when admitted requests are slower than the target, at most once per target interval, never below 2', () => {
    const { a, serve } = admission(32, 100);
    serve(1, 150);
    expect(a.limit).toBe(24);
    const { a: b, clock, serve: serveB } = admission(32, 100);
    const slow = [b.admit(false)!, b.admit(false)!, b.admit(false)!];
    clock.t += 500;
    for (const over of slow) over(); // three slow answers at once: one decrease
    expect(b.limit).toBe(24);
    serveB(40, 150);
    expect(b.limit).toBe(2);
  });

  it('raises it again by about one per round of fast requests, up to the cap', () => {
    const { a, serve } = admission(32, 100);
    serve(20, 150);
    expect(a.limit).toBe(2);
    serve(10, 10);
    expect(a.limit).toBeGreaterThanOrEqual(4);
    serve(2000, 10);
    expect(a.limit).toBe(32);
  });

  it('beyond the adaptive limit refuses new work but admits urgent requests up to the cap', () => {
    const { a, serve } = admission(8, 100);
    serve(20, 150);
    expect(a.limit).toBe(2);
    a.tick();
    const held = [a.admit(false), a.admit(false)];
    expect(held.every((h) => h !== undefined)).toBe(true);
    expect(a.admit(false)).toBeUndefined();
    for (let i = 0; i < 6; i++) expect(a.admit(true)).toBeDefined();
    expect(a.admit(true)).toBeUndefined();
  });

  it('queue delay: past the target in one turn of the event loop, new work is refused until the next turn; urgent requests still pass', () => {
    const { a, clock } = admission(32, 1000, 50);
    a.tick();
    // Read within the target: admitted, however many (each handled at once, as sipsecd's mostly are).
    clock.t += 40;
    for (let i = 0; i < MIN_NEW_PER_TURN + 2; i++) expect(a.admit(false)).toBeDefined();
    // The turn has gone on past the target: what is read now has waited at least that long.
    clock.t += 20;
    expect(a.admit(false)).toBeUndefined();
    expect(a.refusedFor).toBe('requests waited over 50 ms unread');
    expect(a.admit(true)).toBeDefined();
    a.tick();
    expect(a.admit(false)).toBeDefined();
  });

  it('queue delay: the first few new requests of a turn are admitted whatever the delay (a long turn is not a backlog), the next is not', () => {
    const { a, clock } = admission(32, 1000, 50);
    a.tick();
    clock.t += 5000;
    for (let i = 0; i < MIN_NEW_PER_TURN; i++) expect(a.admit(false)).toBeDefined();
    expect(a.admit(false)).toBeUndefined();
  });

  it('the latency the limit learns from counts the wait since the turn began, not only the handler', () => {
    const { a, clock } = admission(32, 100, 1000);
    a.tick();
    clock.t += 90; // waited 90 ms in the turn before it was handled
    const over = a.admit(false)!;
    clock.t += 20; // handled in 20 ms: 110 ms in all, past the 100 ms target
    over();
    expect(a.limit).toBe(24);
  });

  it('retry hint: at least the mean latency; the refused backlog at the completion rate when it is longer', () => {
    const { a, clock, serve } = admission(2, 1000);
    expect(a.retryAfterMs()).toBe(100); // nothing measured yet: the floor
    serve(1, 400);
    expect(a.retryAfterMs()).toBe(400);
    // 13 completions and 40 refusals in 1.5 s: 40 refused at ~9/s = 4.6 s of work.
    clock.t = 1000;
    serve(10, 50);
    const held = [a.admit(true)!, a.admit(true)!];
    for (let i = 0; i < 40; i++) expect(a.admit(false)).toBeUndefined();
    for (const over of held) over();
    expect(a.retryAfterMs()).toBe(Math.round(((40 * 1.5) / 13) * 1000));
  });

  it('spreads hints by ±50 %', () => {
    const hints: number[] = [];
    for (const r of [0, 0.999]) {
      const clock = { t: 0 };
      const a = new Admission({ max: 1, targetMs: 1000, queueTargetMs: 1000, now: () => clock.t, random: () => r });
      const over = a.admit(false)!;
      clock.t += 1000;
      over();
      hints.push(a.retryAfterMs());
    }
    expect(hints).toEqual([500, 1499]);
  });
});
