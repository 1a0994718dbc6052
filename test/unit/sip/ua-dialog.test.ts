// The UA's call logic between two in-memory UAs and a fake sipsecd: the
// ordering (answer before 200 OK, confirm before ACK, media after ACK), 488
// with Warning + MIKEY error body, 415 + fallback, BYE releasing, re-INVITE
// rekeying, and the dialog layer (route set, in-dialog requests).
import { describe, expect, it } from 'vitest';
import { parseSipMessage, serializeSipMessage, type SipMessage } from '../../../src/sip/message.js';
import { UserAgent, type Keying, type UaEvent, type UaOptions } from '../../../src/sip/ua/agent.js';
import { ManualClock } from '../../../src/sip/ua/clock.js';
import { dialogRequest, uacDialog, uasDialog } from '../../../src/sip/ua/dialog.js';
import type { Media, MediaFactory } from '../../../src/sip/ua/media.js';
import { MediaCounter, rtpPacket } from '../../../src/sip/ua/media.js';
import { TransactionLayer } from '../../../src/sip/ua/transaction.js';
import { MemoryNetwork } from '../../../src/sip/ua/transport.js';
import { header } from '../../../src/sip/ua/build.js';

class FakeKeying implements Keying {
  readonly ops: string[] = [];
  reject: { sipStatus: number; warning: string; mikey: string } | undefined;
  /** Answer every offer/answer/prepare `busy` with this retry hint (ms), as a daemon at capacity does. */
  busy: number | undefined;
  /** Answer every offer with this error code (e.g. timeout). */
  offerFails: string | undefined;
  constructor(
    private readonly name: string,
    private readonly trace: string[],
  ) {}
  async offer(a: { callId: string }) {
    this.trace.push(`${this.name}:offer`);
    this.ops.push(`offer ${a.callId}`);
    if (this.busy !== undefined) throw this.busyError();
    if (this.offerFails) throw Object.assign(new Error('offer failed'), { code: this.offerFails, extra: {} });
    return { mikey: Buffer.from('offer-bytes').toString('base64') };
  }
  async answer(a: { mikey: string }) {
    this.trace.push(`${this.name}:answer`);
    if (this.busy !== undefined) throw this.busyError();
    if (this.reject) throw Object.assign(new Error('MIKEY: auth failure'), { code: 'mikey-rejected', extra: this.reject });
    expect(Buffer.from(a.mikey, 'base64').toString()).toBe('offer-bytes');
    return { mikey: Buffer.from('answer-bytes').toString('base64'), sas: [{}, {}] };
  }
  /** prepare waits for this when set (a slow sipsecd). */
  gate: Promise<void> | undefined;
  async prepare(a: { mikey: string; callId: string }) {
    this.trace.push(`${this.name}:prepare`);
    await this.gate;
    this.ops.push(`prepare ${a.callId}`);
    if (this.busy !== undefined) throw this.busyError();
    if (this.reject) throw Object.assign(new Error('MIKEY: auth failure'), { code: 'mikey-rejected', extra: this.reject });
    expect(Buffer.from(a.mikey, 'base64').toString()).toBe('offer-bytes');
    return { mikey: Buffer.from('answer-bytes').toString('base64'), sas: [{}, {}] };
  }
  async activate(callId: string) {
    this.trace.push(`${this.name}:activate`);
    this.ops.push(`activate ${callId}`);
    return { sas: [{}, {}] };
  }
  async confirm(a: { mikey: string; early?: boolean }) {
    this.trace.push(`${this.name}:confirm${a.early ? '-early' : ''}`);
    expect(Buffer.from(a.mikey, 'base64').toString()).toBe('answer-bytes');
    return { sas: [{}, {}] };
  }
  private busyError() {
    return Object.assign(new Error('sipsecd is at capacity'), { code: 'busy', extra: { retryAfterMs: this.busy } });
  }
  async release(callId: string) {
    this.trace.push(`${this.name}:release`);
    this.ops.push(`release ${callId}`);
    return { released: true };
  }
}

function fakeMedia(trace: string[], name: string, log: string[] = []): MediaFactory {
  return async (local): Promise<Media> => ({
    start: (peer) => {
      trace.push(`${name}:media`);
      log.push(`${name} ${local.address} -> ${peer.address}`);
    },
    rebind: async (address) => void log.push(`${name} rebind ${address}`),
    stop: () => {},
    close: async () => ({ sent: 5, received: 5, firstSeq: 0, lostAtStart: 0, lostInside: 0 }),
  });
}

const base: UaOptions = { uri: 'sip:x@example.org', ipsec: true, fallback: 'refuse', multipart: true, mediaPort: 40000, expires: 300 };

function pair(aOpts: Partial<UaOptions> = {}, bOpts: Partial<UaOptions> = {}) {
  const net = new MemoryNetwork();
  const clock = new ManualClock();
  const trace: string[] = [];
  const events: UaEvent[] = [];
  const ka = new FakeKeying('alice', trace);
  const kb = new FakeKeying('bob', trace);
  const ta = net.attach('10.0.0.1', 5060);
  const tb = net.attach('10.0.0.2', 5060);
  // Record what goes on the wire, in order with the keying calls.
  const deliver = net.deliver.bind(net);
  net.deliver = (from, to, data) => {
    const m = parseSipMessage(data);
    trace.push(`wire:${m.kind === 'request' ? m.method : m.status}`);
    deliver(from, to, data);
  };
  const log = (who: string) => (e: UaEvent) => events.push({ ...e, who });
  const media: string[] = [];
  const alice = new UserAgent(new TransactionLayer(ta, clock), { ...base, uri: 'sip:alice@example.org', ...aOpts }, ka, fakeMedia(trace, 'alice', media), log('alice'));
  const bob = new UserAgent(new TransactionLayer(tb, clock), { ...base, uri: 'sip:bob@example.org', ...bOpts }, kb, fakeMedia(trace, 'bob', media), log('bob'));
  const settle = async () => {
    for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r));
  };
  const wire = () => net.sent.map((s) => parseSipMessage(s.data));
  return { net, clock, trace, events, ka, kb, alice, bob, settle, wire, ta, media };
}

const named = (msgs: SipMessage[], what: string) => msgs.filter((m) => (m.kind === 'request' ? m.method : String(m.status)) === what);

describe('UA call flow', () => {
  it('keys the callee before 200 OK and the caller before ACK; media only after ACK; BYE releases both', async () => {
    const p = pair();
    const c = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    expect(await c.established).toBe(true);
    const t = p.trace.filter((x) => !x.startsWith('wire:1'));
    expect(t.indexOf('bob:prepare')).toBeLessThan(t.indexOf('bob:activate'));
    expect(t.indexOf('bob:activate')).toBeLessThan(t.indexOf('wire:200'));
    expect(t.indexOf('wire:200')).toBeLessThan(t.indexOf('alice:confirm'));
    expect(t.indexOf('alice:confirm')).toBeLessThan(t.indexOf('wire:ACK'));
    expect(t.indexOf('wire:ACK')).toBeLessThan(t.indexOf('alice:media'));
    expect(t.indexOf('wire:ACK')).toBeLessThan(t.indexOf('bob:media'));
    const invite = named(p.wire(), 'INVITE')[0]!;
    expect(header(invite, 'Content-Type')).toMatch(/^multipart\/mixed;boundary=/);
    const out = await p.alice.hangup(c.callId);
    await p.settle();
    expect(out?.ok).toBe(true);
    expect(p.ka.ops).toEqual([`offer ${c.callId}`, `release ${c.callId}`]);
    expect(p.kb.ops).toEqual([`prepare ${c.callId}`, `activate ${c.callId}`, `release ${c.callId}`]);
    expect(p.events.some((e) => e.event === 'bye-received' && e.who === 'bob')).toBe(true);
  });

  it('answers a refused offer with 488, the daemon Warning and the MIKEY error as application/mikey; the caller releases', async () => {
    const p = pair();
    p.kb.reject = { sipStatus: 488, warning: '399 sipsec "MIKEY: Auth failure"', mikey: Buffer.from('mikey-error').toString('base64') };
    const c = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    expect(await c.established).toBe(false);
    const r = named(p.wire(), '488')[0]!;
    expect(header(r, 'Warning')).toBe('399 sipsec "MIKEY: Auth failure"');
    expect(header(r, 'Content-Type')).toBe('application/mikey');
    expect(Buffer.from(r.body).toString()).toBe('mikey-error');
    expect(named(p.wire(), 'ACK')).toHaveLength(1);
    expect(p.ka.ops).toEqual([`offer ${c.callId}`, `release ${c.callId}`]);
    expect(p.events.find((e) => e.event === 'invite-rejected')).toMatchObject({ status: 488, mikeyError: true });
  });

  it('answers 503 with Retry-After (whole seconds, rounded up) when the callee\'s sipsecd is busy; the caller releases and logs it', async () => {
    const p = pair();
    p.kb.busy = 2300;
    const c = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    expect(await c.established).toBe(false);
    const r = named(p.wire(), '503')[0]!;
    expect(header(r, 'Retry-After')).toBe('3');
    expect(header(r, 'Warning')).toMatch(/^399 \S+ "sipsecd: busy"$/);
    expect(named(p.wire(), 'ACK')).toHaveLength(1);
    expect(p.ka.ops).toEqual([`offer ${c.callId}`, `release ${c.callId}`]);
    expect(p.events.find((e) => e.event === 'answer-refused')).toMatchObject({ who: 'bob', code: 'busy', retryAfterMs: 2300 });
    expect(p.events.find((e) => e.event === 'invite-rejected')).toMatchObject({ who: 'alice', status: 503, retryAfter: '3' });
    expect((await c.done).status).toBe(503);
  });

  it('a caller whose own sipsecd is busy sends no INVITE and fails the call locally with 503 and the hint', async () => {
    const p = pair();
    p.ka.busy = 400;
    const c = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    expect(await c.established).toBe(false);
    expect(p.wire()).toEqual([]);
    expect(await c.done).toMatchObject({ ok: false, status: 503 });
    expect(p.events.find((e) => e.event === 'call-failed')).toMatchObject({ reason: 'sipsecd-busy', status: 503, retryAfterMs: 400 });
    expect(p.ka.ops).toEqual([`offer ${c.callId}`]);
  });

  it('a timed-out offer is released (sipsecd may still make it); other offer failures are not', async () => {
    const p = pair();
    p.ka.offerFails = 'timeout';
    const c = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    expect(await c.established).toBe(false);
    expect(p.ka.ops).toEqual([`offer ${c.callId}`, `release ${c.callId}`]);
    p.ka.offerFails = 'no-peer';
    const d = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    expect(p.ka.ops.slice(2)).toEqual([`offer ${d.callId}`]);
    expect(p.wire()).toEqual([]);
  });

  it('415 from a callee without multipart: fallback=refuse gives up with an event', async () => {
    const p = pair({ fallback: 'refuse' }, { multipart: false });
    const c = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    expect(await c.established).toBe(false);
    const r = named(p.wire(), '415')[0]!;
    expect(header(r, 'Accept')).toBe('application/sdp');
    expect(p.events.find((e) => e.event === 'fallback')).toMatchObject({ to: 'refuse' });
    expect(named(p.wire(), 'INVITE')).toHaveLength(1);
    expect(p.ka.ops).toEqual([`offer ${c.callId}`, `release ${c.callId}`]);
  });

  it('415 with fallback=clear retries with plain SDP, logged, and the call works without keys', async () => {
    const p = pair({ fallback: 'clear' }, { multipart: false, ipsec: false });
    const c = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    expect(await c.established).toBe(true);
    const invites = named(p.wire(), 'INVITE');
    expect(invites).toHaveLength(2);
    expect(header(invites[1]!, 'Content-Type')).toBe('application/sdp');
    expect(header(invites[1]!, 'Call-ID')).toBe(header(invites[0]!, 'Call-ID'));
    expect(p.events.find((e) => e.event === 'fallback')).toMatchObject({ to: 'clear' });
    expect(p.trace).not.toContain('alice:confirm');
  });

  it('a re-INVITE with a new offer rekeys (answer, then confirm before the ACK)', async () => {
    const p = pair();
    const c = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    p.trace.length = 0;
    expect(await Promise.all([p.alice.rekey(c.callId), p.settle()]).then(([ok]) => ok)).toBe(true);
    expect(p.trace.filter((x) => !x.startsWith('wire:1'))).toEqual(['alice:offer', 'wire:INVITE', 'bob:answer', 'wire:200', 'alice:confirm', 'wire:ACK']);
  });

  it('a re-INVITE the callee\'s sipsecd is too busy for gets 503 + Retry-After; the call stays up', async () => {
    const p = pair();
    const c = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    p.kb.busy = 150;
    expect(await Promise.all([p.alice.rekey(c.callId), p.settle()]).then(([ok]) => ok)).toBe(false);
    expect(header(named(p.wire(), '503')[0]!, 'Retry-After')).toBe('1');
    expect(p.alice.activeCalls()).toEqual([c.callId]);
  });

  it('rings (180) before answering, and the timeline hook gets every call-setup mark of each side in order', async () => {
    const p = pair();
    const marks: string[] = [];
    p.alice.timeline = (mark, callId, at) => marks.push(`alice:${mark}:${callId.length > 0}:${at >= 0}`);
    p.bob.timeline = (mark, callId, at) => marks.push(`bob:${mark}:${callId.length > 0}:${at >= 0}`);
    const c = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    expect(await c.established).toBe(true);
    const t = p.trace;
    expect(t.indexOf('wire:180')).toBeLessThan(t.indexOf('bob:prepare'));
    const of = (who: string) => marks.filter((m) => m.startsWith(`${who}:`)).map((m) => m.split(':')[1]);
    expect(of('alice')).toEqual(['dial', 'invite-sent', 'ringing-received', 'sas-prepared', 'ok-received', 'sas-installed', 'ack-sent', 'session-ready']);
    expect(of('bob')).toEqual(['invite-received', 'ringing-sent', 'accepted', 'sas-prepared', 'sas-installed', 'ok-sent', 'ack-received', 'session-ready']);
    expect(marks.every((m) => m.endsWith(':true:true'))).toBe(true);
  });

  it('prepares while it rings and only activates at accept (ringMs later); a refused offer ends the ringing at once', async () => {
    const p = pair({}, { ringMs: 1000 });
    const at: Record<string, number> = {};
    p.bob.timeline = (mark, _id, t) => (at[mark] = t);
    const c = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    expect(p.trace).toContain('bob:prepare');
    expect(p.trace).not.toContain('bob:activate');
    expect(named(p.wire(), '200')).toHaveLength(0);
    p.clock.advance(1000);
    await p.settle();
    expect(await c.established).toBe(true);
    expect(at['accepted']! - at['ringing-sent']!).toBe(1000);
    expect(at['sas-prepared']).toBe(at['ringing-sent']); // prepared while ringing
    expect(p.kb.ops).toEqual([`prepare ${c.callId}`, `activate ${c.callId}`]);

    const q = pair({}, { ringMs: 60_000 });
    q.kb.reject = { sipStatus: 488, warning: '399 sipsec "MIKEY: Auth failure"', mikey: Buffer.from('mikey-error').toString('base64') };
    const d = await q.alice.call('sip:bob@10.0.0.2');
    await q.settle();
    expect(await d.established).toBe(false);
    expect(named(q.wire(), '488')).toHaveLength(1);
    expect(q.kb.ops).toEqual([`prepare ${d.callId}`, `release ${d.callId}`]);
  });

  it('a CANCEL while ringing releases what sipsecd prepared, after its prepare completed, and never activates', async () => {
    const p = pair({}, { ringMs: 60_000 });
    let open!: () => void;
    p.kb.gate = new Promise((r) => (open = r));
    await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    const invite = named(p.wire(), 'INVITE')[0]!;
    const keep = ['Via', 'From', 'To', 'Call-ID', 'Max-Forwards'];
    const cancel: SipMessage = {
      kind: 'request',
      method: 'CANCEL',
      uri: (invite as { uri: string }).uri,
      headers: [...invite.headers.filter((h) => keep.includes(h.name)), { name: 'CSeq', value: `${header(invite, 'CSeq')!.split(' ')[0]} CANCEL` }],
      body: new Uint8Array(),
    };
    p.ta.send({ transport: 'udp', address: '10.0.0.2', port: 5060 }, serializeSipMessage(cancel));
    await p.settle();
    expect(named(p.wire(), '487')).toHaveLength(1);
    expect(p.kb.ops).toEqual([]); // the release waits for the prepare under way
    open();
    await p.settle();
    const id = header(invite, 'Call-ID');
    expect(p.kb.ops).toEqual([`prepare ${id}`, `release ${id}`]);
    p.clock.advance(60_000);
    await p.settle();
    expect(p.trace).not.toContain('bob:activate');
    expect(named(p.wire(), '200').filter((m) => m.kind === 'response' && /INVITE/.test(header(m, 'CSeq') ?? ''))).toHaveLength(0);
  });

  it('moves a call: re-INVITE from the new address, the callee answers for it and sends media there from the ACK on', async () => {
    const p = pair();
    const c = await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    p.trace.length = 0;
    p.media.length = 0;
    await p.ta.rebind('10.0.0.11');
    expect(await Promise.all([p.alice.move(), p.settle()]).then(([ids]) => ids)).toEqual([c.callId]);
    await p.settle();
    expect(p.trace.filter((x) => !x.startsWith('wire:1'))).toEqual(['alice:offer', 'wire:INVITE', 'bob:answer', 'wire:200', 'alice:confirm', 'wire:ACK', 'bob:media']);
    expect(p.media).toEqual(['alice rebind 10.0.0.11', 'bob 10.0.0.2 -> 10.0.0.11']);
    const reinvite = named(p.wire(), 'INVITE')[1]!;
    expect(header(reinvite, 'Contact')).toBe('<sip:alice@10.0.0.11:5060>');
    expect(header(reinvite, 'Via')).toMatch(/^SIP\/2.0\/UDP 10\.0\.0\.11:5060;/);
    // Target refresh: bob's next in-dialog request goes to alice's new Contact.
    await Promise.all([p.bob.hangup(c.callId), p.settle()]);
    expect(named(p.wire(), 'BYE')[0]).toMatchObject({ kind: 'request', uri: 'sip:alice@10.0.0.11:5060' });
  });

  it('retransmits the 2xx until the ACK arrives (§13.3.1.4)', async () => {
    const p = pair();
    let dropAck = true;
    p.net.drop = (_to, data) => dropAck && parseSipMessage(data).kind === 'request' && (parseSipMessage(data) as { method: string }).method === 'ACK';
    await p.alice.call('sip:bob@10.0.0.2');
    await p.settle();
    expect(p.trace).not.toContain('bob:media');
    dropAck = false;
    p.clock.advance(500);
    await p.settle();
    expect(named(p.wire(), '200').length).toBe(2);
    expect(p.trace).toContain('bob:media');
  });
});

describe('dialog layer (§12)', () => {
  const invite = parseSipMessage(
    Buffer.from(
      'INVITE sip:bob@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nRecord-Route: <sip:10.0.0.3;lr>\r\nRecord-Route: <sip:10.0.0.4;lr>\r\n' +
        'From: <sip:alice@example.org>;tag=a\r\nTo: <sip:bob@example.org>\r\nCall-ID: x\r\nCSeq: 7 INVITE\r\nContact: <sip:alice@10.0.0.1:5060>\r\n\r\n',
    ),
  );
  it('UAS keeps Record-Route in order and targets the caller Contact; UAC reverses it', () => {
    if (invite.kind !== 'request') throw new Error('not a request');
    const d = uasDialog(invite, 'b');
    const bye = dialogRequest(d, 'BYE', [], new Uint8Array());
    expect(bye.uri).toBe('sip:alice@10.0.0.1:5060');
    expect(bye.headers.filter((h) => h.name === 'Route').map((h) => h.value)).toEqual(['<sip:10.0.0.3;lr>', '<sip:10.0.0.4;lr>']);
    expect(header(bye, 'CSeq')).toBe('1 BYE');
    expect(header(bye, 'To')).toBe('<sip:alice@example.org>;tag=a');
    expect(header(bye, 'From')).toBe('<sip:bob@example.org>;tag=b');
    const res = { kind: 'response' as const, status: 200, reason: 'OK', headers: [...invite.headers.filter((h) => h.name !== 'To' && h.name !== 'Contact'), { name: 'To', value: '<sip:bob@example.org>;tag=b' }, { name: 'Contact', value: '<sip:bob@10.0.0.2>' }], body: new Uint8Array() };
    const u = uacDialog(invite, res);
    expect(u.routeSet).toEqual(['<sip:10.0.0.4;lr>', '<sip:10.0.0.3;lr>']);
    expect(dialogRequest(u, 'BYE', [], new Uint8Array()).uri).toBe('sip:bob@10.0.0.2');
    expect(header(dialogRequest(u, 'BYE', [], new Uint8Array()), 'CSeq')).toBe('9 BYE');
  });
  it('a strict first route becomes the Request-URI and the remote target the last Route', () => {
    if (invite.kind !== 'request') throw new Error('not a request');
    const d = { ...uasDialog(invite, 'b'), routeSet: ['<sip:10.0.0.3>'] };
    const bye = dialogRequest(d, 'BYE', [], new Uint8Array());
    expect(bye.uri).toBe('sip:10.0.0.3');
    expect(bye.headers.filter((h) => h.name === 'Route').map((h) => h.value)).toEqual(['<sip:alice@10.0.0.1:5060>']);
  });
});

describe('media counter', () => {
  it('counts packets, the first sequence number and gaps', () => {
    const m = new MediaCounter();
    for (const s of [2, 3, 5]) m.packet(rtpPacket(s, 1));
    m.packet(new Uint8Array([1, 2, 3]));
    expect(m.stats()).toMatchObject({ received: 3, firstSeq: 2, lostAtStart: 2, lostInside: 1 });
  });
});
