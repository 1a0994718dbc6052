// Issue 5 item 3 on the UA: "with forking, only the branch that answers is
// keyed; CANCEL, timeouts and failures give back allocated SPIs".  In-memory
// UAs (and a scripted callee for what a single UA never does: a late 2xx,
// two forks answering), a fake sipsecd recording every call the UA makes;
// assertions on the SIP messages on the wire and on those calls.
import { describe, expect, it } from 'vitest';
import { parseSipMessage, serializeSipMessage, type SipMessage, type SipRequest } from '../../../src/sip/message.js';
import { buildSipsecBody } from '../../../src/sip/multipart.js';
import { buildAudioSdp } from '../../../src/sip/sdp.js';
import { UserAgent, type Keying, type UaEvent, type UaOptions } from '../../../src/sip/ua/agent.js';
import { buildResponse, header } from '../../../src/sip/ua/build.js';
import { ManualClock } from '../../../src/sip/ua/clock.js';
import type { Media, MediaFactory } from '../../../src/sip/ua/media.js';
import { TransactionLayer } from '../../../src/sip/ua/transaction.js';
import { MemoryNetwork, type MemoryTransport, type Target } from '../../../src/sip/ua/transport.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A fake sipsecd: records each operation; `hold` keeps answer (and prepare) pending until `let go`. */
class FakeDaemon implements Keying {
  readonly ops: string[] = [];
  #held: (() => void)[] = [];
  hold = false;
  constructor(private readonly name: string) {}
  letGo(): void {
    this.hold = false;
    for (const r of this.#held.splice(0)) r();
  }
  async #gate(op: string, callId: string): Promise<void> {
    this.ops.push(`${op} ${callId}`);
    if (this.hold) await new Promise<void>((r) => this.#held.push(r));
    this.ops.push(`${op}-done ${callId}`);
  }
  async offer(a: { callId: string }) {
    this.ops.push(`offer ${a.callId}`);
    return { mikey: b64(`${this.name}-offer`) };
  }
  async answer(a: { callId: string }) {
    await this.#gate('answer', a.callId);
    return { mikey: b64(`${this.name}-answer`), sas: [{}, {}] };
  }
  async prepare(a: { callId: string }) {
    return this.answer(a);
  }
  async activate(callId: string) {
    this.ops.push(`activate ${callId}`);
    return { sas: [{}, {}] };
  }
  /** Early confirms fail (as a forged 183's MIKEY would). */
  earlyFails = false;
  /** A 2xx answer other than the early one fails its full verification (sipsecd then ends the call). */
  otherAnswerFails = false;
  /** The MIKEY message of each call's early confirm (sipsecd compares the 2xx's with it). */
  readonly #early = new Map<string, string>();
  async confirm(a: { callId: string; mikey: string; early?: boolean }) {
    this.ops.push(`confirm${a.early ? '-early' : ''} ${a.callId}`);
    if (a.early) {
      if (this.earlyFails) throw Object.assign(new Error('MIKEY: Authentication failure'), { code: 'mikey-rejected', extra: {} });
      this.#early.set(a.callId, a.mikey);
    } else if (this.otherAnswerFails && this.#early.has(a.callId) && this.#early.get(a.callId) !== a.mikey) {
      throw Object.assign(new Error('MIKEY: Authentication failure'), { code: 'mikey-rejected', extra: {} });
    }
    return { sas: [{}, {}] };
  }
  async release(callId: string) {
    this.ops.push(`release ${callId}`);
    return { released: true };
  }
}

const noMedia: MediaFactory = async (): Promise<Media> => ({
  start: () => {},
  rebind: async () => {},
  stop: () => ({ sent: 0, received: 0, firstSeq: 0, lostAtStart: 0, lostInside: 0 }),
  close: (() => ({ sent: 0, received: 0, firstSeq: 0, lostAtStart: 0, lostInside: 0 })) as never,
});

const opts: UaOptions = { uri: 'sip:x@example.org', ipsec: true, fallback: 'refuse', multipart: true, mediaPort: 40000, expires: 300 };
const name = (m: SipMessage): string => (m.kind === 'request' ? m.method : `${m.status} ${header(m, 'CSeq')!.split(' ')[1]}`);

function setup() {
  const net = new MemoryNetwork();
  const clock = new ManualClock();
  const events: UaEvent[] = [];
  const alice = { daemon: new FakeDaemon('alice'), ua: undefined as unknown as UserAgent };
  alice.ua = new UserAgent(new TransactionLayer(net.attach('10.0.0.1', 5060), clock), { ...opts, uri: 'sip:alice@example.org' }, alice.daemon, noMedia, (e) =>
    events.push({ ...e, who: 'alice' }),
  );
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
  };
  /** Names of the messages on the wire (responses with their CSeq method), 100 Trying left out. */
  const wire = (): string[] => net.sent.map((s) => name(parseSipMessage(s.data))).filter((n) => !n.startsWith('100 '));
  const msgs = (what: string): SipMessage[] => net.sent.map((s) => parseSipMessage(s.data)).filter((m) => name(m) === what);
  return { net, clock, events, alice, settle, wire, msgs };
}

/** Our UA as the callee. */
function withBob(s: ReturnType<typeof setup>, bobOpts: Partial<UaOptions> = {}) {
  const daemon = new FakeDaemon('bob');
  const ua = new UserAgent(new TransactionLayer(s.net.attach('10.0.0.2', 5060), s.clock), { ...opts, uri: 'sip:bob@example.org', ...bobOpts }, daemon, noMedia, (e) =>
    s.events.push({ ...e, who: 'bob' }),
  );
  return { daemon, ua };
}

/** A scripted callee at 10.0.0.2: every request it gets, and a way to answer them. */
function scriptedCallee(net: MemoryNetwork) {
  const t: MemoryTransport = net.attach('10.0.0.2', 5060);
  const got: { req: SipRequest; from: Target }[] = [];
  t.onMessage = (msg, from) => {
    if (msg.kind === 'request') got.push({ req: msg, from });
  };
  const last = (method: string) => [...got].reverse().find((g) => g.req.method === method)!;
  const respond = (method: string, status: number, toTag: string, withBody = false): void => {
    const { req, from } = last(method);
    const body = withBody ? buildSipsecBody({ mikey: Uint8Array.from(Buffer.from(`answer-${toTag}`)), sdp: buildAudioSdp({ address: '10.0.0.2', port: 40002, sessionId: '1', username: 'bob' }) }) : undefined;
    const res = buildResponse(req, status, {
      toTag,
      headers: body ? [{ name: 'Contact', value: `<sip:bob-${toTag}@10.0.0.2:5060>` }, { name: 'Content-Type', value: body.contentType }] : [],
      ...(body ? { body: body.body } : {}),
    });
    t.send(from, serializeSipMessage(res));
  };
  return { got, respond, last };
}

describe('UA: the caller cancels (RFC 3261 §9.1)', () => {
  it('CANCEL after the provisional response, 487 to the INVITE, its ACK; both sides give back what they asked sipsecd for', async () => {
    const s = setup();
    const bob = withBob(s);
    bob.daemon.hold = true; // bob rings while sipsecd works on the answer
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    await s.settle();
    expect(s.wire()).toEqual(['INVITE', '180 INVITE']);
    const out = s.alice.ua.cancel(c.callId);
    await s.settle();
    expect(s.wire()).toEqual(['INVITE', '180 INVITE', 'CANCEL', '200 CANCEL', '487 INVITE', 'ACK']);
    const [invite] = s.msgs('INVITE');
    const [cancel] = s.msgs('CANCEL');
    // §9.1: same Request-URI, Call-ID, From, To, CSeq number and top Via (branch) as the INVITE.
    expect(cancel).toMatchObject({ uri: (invite as SipRequest).uri });
    for (const h of ['Call-ID', 'From', 'To', 'Via']) expect(header(cancel!, h)).toBe(header(invite!, h));
    expect(header(cancel!, 'CSeq')).toBe(header(invite!, 'CSeq')!.replace('INVITE', 'CANCEL'));
    expect(header(s.msgs('ACK')[0]!, 'Via')).toBe(header(invite!, 'Via')); // the 487's ACK: same transaction
    // §8.2.6.2: every response of bob's to the INVITE has the same To tag.
    const toTag = (m: SipMessage) => /;tag=([^;]+)/.exec(header(m, 'To')!)?.[1];
    expect(toTag(s.msgs('487 INVITE')[0]!)).toBe(toTag(s.msgs('180 INVITE')[0]!));
    expect(await out).toEqual({ callId: c.callId, ok: false, status: 487 });
    expect(await c.established).toBe(false);
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `release ${c.callId}`]);
    // Bob: 200 to the CANCEL, 487 to the INVITE, and the release waits for the answer sipsecd was making.
    expect(bob.daemon.ops).toEqual([`answer ${c.callId}`]);
    bob.daemon.letGo();
    await s.settle();
    expect(bob.daemon.ops).toEqual([`answer ${c.callId}`, `answer-done ${c.callId}`, `release ${c.callId}`]);
    expect(s.wire().filter((w) => w === '200 INVITE')).toEqual([]); // never answered after all
    expect(s.events.filter((e) => e.who === 'bob' && e.event === 'cancelled')).toHaveLength(1);
  });

  it('waits for a provisional response before sending CANCEL', async () => {
    const s = setup();
    const callee = scriptedCallee(s.net);
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    await s.settle();
    void s.alice.ua.cancel(c.callId);
    await s.settle();
    expect(s.wire()).toEqual(['INVITE']); // nothing yet: the CANCEL could overtake the INVITE
    callee.respond('INVITE', 180, 'b1');
    await s.settle();
    expect(s.wire()).toEqual(['INVITE', '180 INVITE', 'CANCEL']);
    callee.respond('CANCEL', 200, 'b1');
    callee.respond('INVITE', 487, 'b1');
    await s.settle();
    expect(await s.alice.ua.hangup(c.callId)).toMatchObject({ ok: false, status: 487 });
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `release ${c.callId}`]);
  });

  it('hangup() before the answer cancels too', async () => {
    const s = setup();
    const bob = withBob(s);
    bob.daemon.hold = true;
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    await s.settle();
    const out = s.alice.ua.hangup(c.callId);
    await s.settle();
    bob.daemon.letGo();
    expect(await out).toMatchObject({ ok: false, status: 487 });
    expect(s.wire()).toContain('CANCEL');
  });

  it('a 2xx that crossed the CANCEL is ACKed and hung up with BYE, never confirmed; the offer is released', async () => {
    const s = setup();
    const callee = scriptedCallee(s.net);
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    callee.respond('INVITE', 180, 'b1');
    await s.settle();
    void s.alice.ua.cancel(c.callId);
    await s.settle();
    callee.respond('INVITE', 200, 'b1', true); // sent before the CANCEL arrived
    callee.respond('CANCEL', 200, 'b1');
    await s.settle();
    expect(s.wire()).toEqual(['INVITE', '180 INVITE', 'CANCEL', '200 INVITE', '200 CANCEL', 'ACK', 'BYE']);
    expect(header(s.msgs('BYE')[0]!, 'To')).toMatch(/;tag=b1$/);
    callee.respond('BYE', 200, 'b1');
    await s.settle();
    expect(await c.done).toMatchObject({ ok: false, status: 200 });
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `release ${c.callId}`]);
  });

  it('no final response within 64*T1 of the CANCEL: the call ends and the offer is released', async () => {
    const s = setup();
    const callee = scriptedCallee(s.net);
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    callee.respond('INVITE', 180, 'b1');
    await s.settle();
    void s.alice.ua.cancel(c.callId);
    await s.settle();
    callee.respond('CANCEL', 200, 'b1'); // but the 487 never comes
    await s.settle();
    s.clock.advance(64 * 500);
    await s.settle();
    expect(await c.done).toMatchObject({ ok: false, status: 487 });
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `release ${c.callId}`]);
  });

  it('cancelled while sipsecd makes the offer: no INVITE at all, the offer is released', async () => {
    const s = setup();
    const offer = s.alice.daemon.offer.bind(s.alice.daemon);
    let proceed!: () => void;
    s.alice.daemon.offer = async (a) => {
      await new Promise<void>((r) => (proceed = r));
      return offer(a);
    };
    const calling = s.alice.ua.call('sip:bob@10.0.0.2');
    await s.settle();
    const callId = s.events.find((e) => e.event === 'offer-request')!.callId!;
    const out = s.alice.ua.cancel(callId);
    proceed();
    await calling;
    await s.settle();
    expect(await out).toEqual({ callId, ok: false, status: 487 });
    expect(s.wire()).toEqual([]);
    expect(s.alice.daemon.ops).toEqual([`offer ${callId}`, `release ${callId}`]);
  });
});

describe('UA: forking (§13.2.2.4)', () => {
  it('keys only the branch that answers first: a second 2xx gets ACK + BYE and no confirm', async () => {
    const s = setup();
    const callee = scriptedCallee(s.net);
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    callee.respond('INVITE', 180, 'fork1');
    callee.respond('INVITE', 200, 'fork1', true);
    await s.settle();
    callee.respond('INVITE', 200, 'fork2', true);
    await s.settle();
    expect(await c.established).toBe(true);
    expect(s.wire()).toEqual(['INVITE', '180 INVITE', '200 INVITE', 'ACK', '200 INVITE', 'ACK', 'BYE']);
    const [ack1, ack2] = s.msgs('ACK');
    expect(header(ack1!, 'To')).toMatch(/;tag=fork1$/);
    expect(header(ack2!, 'To')).toMatch(/;tag=fork2$/);
    const [bye] = s.msgs('BYE');
    expect(header(bye!, 'To')).toMatch(/;tag=fork2$/);
    expect(bye).toMatchObject({ uri: 'sip:bob-fork2@10.0.0.2:5060' });
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `confirm ${c.callId}`]); // one confirm: fork1's
    expect(s.events.filter((e) => e.event === 'fork-extra-2xx')).toMatchObject([{ callId: c.callId, remoteTag: 'fork2' }]);
    expect(s.alice.ua.activeCalls()).toEqual([c.callId]);
  });
});

describe('UA: the answer in a 183 while the callee rings (RFC 3261 §13.2.1)', () => {
  it('callee: 180, then 183 with the answer once sipsecd prepared it; the 200 OK repeats that body byte for byte; the caller keys early and only activates at the 200 OK', async () => {
    const s = setup();
    const bob = withBob(s, { ringMs: 1000 });
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    await s.settle();
    expect(s.wire()).toEqual(['INVITE', '180 INVITE', '183 INVITE']);
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `confirm-early ${c.callId}`]);
    expect(s.events.filter((e) => e.who === 'alice' && e.event === 'sas-prepared')).toHaveLength(1);
    s.clock.advance(1000);
    await s.settle();
    expect(await c.established).toBe(true);
    expect(s.wire()).toEqual(['INVITE', '180 INVITE', '183 INVITE', '200 INVITE', 'ACK']);
    const [progress] = s.msgs('183 INVITE');
    const [ok] = s.msgs('200 INVITE');
    expect(header(progress!, 'Content-Type')).toMatch(/^multipart\/mixed;boundary=/);
    expect(header(ok!, 'Content-Type')).toBe(header(progress!, 'Content-Type'));
    expect(Buffer.from(ok!.body).equals(Buffer.from(progress!.body))).toBe(true);
    expect(header(ok!, 'To')).toBe(header(progress!, 'To')); // same To tag: one dialog
    // The 2xx's confirm carries the same MIKEY message: sipsecd only adds the policies.
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `confirm-early ${c.callId}`, `confirm ${c.callId}`]);
    expect(bob.daemon.ops).toEqual([`answer ${c.callId}`, `answer-done ${c.callId}`, `activate ${c.callId}`]);
  });

  it('no 183 when the callee is configured without it (earlyAnswer: false), nor for an offer without MIKEY', async () => {
    const s = setup();
    withBob(s, { ringMs: 1000, earlyAnswer: false });
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    await s.settle();
    s.clock.advance(1000);
    await s.settle();
    expect(await c.established).toBe(true);
    expect(s.wire()).toEqual(['INVITE', '180 INVITE', '200 INVITE', 'ACK']);
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `confirm ${c.callId}`]);
    const t = setup();
    withBob(t, { ringMs: 1000, ipsec: false, fallback: 'clear' });
    await t.alice.ua.call('sip:bob@10.0.0.2');
    await t.settle();
    t.clock.advance(1000);
    await t.settle();
    expect(t.wire().slice(0, 3)).toEqual(['INVITE', '180 INVITE', '200 INVITE']); // bob keys nothing: no 183 (alice then refuses the clear call)
  });

  it('a rejected call (486 after the 183) releases what the early confirm installed, after it', async () => {
    const s = setup();
    const callee = scriptedCallee(s.net);
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    callee.respond('INVITE', 180, 'b1');
    callee.respond('INVITE', 183, 'b1', true);
    callee.respond('INVITE', 486, 'b1');
    await s.settle();
    expect(await c.done).toMatchObject({ ok: false, status: 486 });
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `confirm-early ${c.callId}`, `release ${c.callId}`]);
  });

  it('a call cancelled while the callee rings after its 183 releases the early pair', async () => {
    const s = setup();
    const callee = scriptedCallee(s.net);
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    callee.respond('INVITE', 183, 'b1', true);
    await s.settle();
    const out = s.alice.ua.cancel(c.callId);
    await s.settle();
    callee.respond('CANCEL', 200, 'b1');
    callee.respond('INVITE', 487, 'b1');
    await s.settle();
    expect(await out).toMatchObject({ ok: false, status: 487 });
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `confirm-early ${c.callId}`, `release ${c.callId}`]);
  });

  it('a 183 whose MIKEY sipsecd refuses does not end the call: logged, and the 200 OK is confirmed in full', async () => {
    const s = setup();
    const callee = scriptedCallee(s.net);
    s.alice.daemon.earlyFails = true;
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    callee.respond('INVITE', 183, 'b1', true);
    await s.settle();
    expect(s.events.filter((e) => e.event === 'early-confirm-failed')).toMatchObject([{ callId: c.callId, code: 'mikey-rejected' }]);
    callee.respond('INVITE', 200, 'b1', true);
    await s.settle();
    expect(await c.established).toBe(true);
    expect(s.wire()).toEqual(['INVITE', '183 INVITE', '200 INVITE', 'ACK']);
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `confirm-early ${c.callId}`, `confirm ${c.callId}`]);
    expect(s.events.find((e) => e.event === 'confirm-request')).toMatchObject({ early: false });
  });

  it('a 2xx from another fork than the 183 carries another answer: sipsecd verifies it in full, the call goes on with that fork', async () => {
    const s = setup();
    const callee = scriptedCallee(s.net);
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    callee.respond('INVITE', 183, 'fork1', true);
    await s.settle();
    callee.respond('INVITE', 200, 'fork2', true);
    await s.settle();
    expect(s.events.find((e) => e.event === 'confirm-request')).toMatchObject({ early: true, fork: 'other' });
    expect(await c.established).toBe(true);
    expect(s.wire()).toEqual(['INVITE', '183 INVITE', '200 INVITE', 'ACK']);
    expect(header(s.msgs('ACK')[0]!, 'To')).toMatch(/;tag=fork2$/);
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `confirm-early ${c.callId}`, `confirm ${c.callId}`]);
  });

  it('... and when that answer fails verification, the call is ACKed, hung up and released', async () => {
    const s = setup();
    s.alice.daemon.otherAnswerFails = true;
    const callee = scriptedCallee(s.net);
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    callee.respond('INVITE', 183, 'fork1', true);
    await s.settle();
    callee.respond('INVITE', 200, 'fork2', true);
    await s.settle();
    expect(s.wire()).toEqual(['INVITE', '183 INVITE', '200 INVITE', 'ACK', 'BYE']);
    expect(header(s.msgs('BYE')[0]!, 'To')).toMatch(/;tag=fork2$/);
    callee.respond('BYE', 200, 'fork2');
    await s.settle();
    expect(await c.established).toBe(false);
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `confirm-early ${c.callId}`, `confirm ${c.callId}`, `release ${c.callId}`]);
  });

  it('only the first 1xx answer is confirmed early; 1xx without a body change nothing', async () => {
    const s = setup();
    const callee = scriptedCallee(s.net);
    const c = await s.alice.ua.call('sip:bob@10.0.0.2');
    callee.respond('INVITE', 180, 'b1');
    callee.respond('INVITE', 183, 'b1', true);
    callee.respond('INVITE', 183, 'b1', true);
    await s.settle();
    callee.respond('INVITE', 200, 'b1', true);
    await s.settle();
    expect(await c.established).toBe(true);
    expect(s.alice.daemon.ops).toEqual([`offer ${c.callId}`, `confirm-early ${c.callId}`, `confirm ${c.callId}`]);
  });
});
