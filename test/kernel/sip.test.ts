// The reference UA through kamailio on the lab kernel: REGISTER with digest
// authentication, a call keyed by sipsecd (SAs on bob before 200 OK, on
// alice before ACK), media over ESP with no packet lost at start, BYE and the
// linger; a refused offer (488); a callee without multipart (415 + fallback);
// and tshark finding no malformed SIP message in the capture.
import { type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureSip } from './helpers/capture.js';
import { CAROL, startSipLab, URI, type SipLab, type UaEventLine } from '../../src/lab/demo-lab.js';

let lab: SipLab;
let capture: ChildProcess;
let pcap: string;

const ev = (events: UaEventLine[], name: string) => events.find((e) => e.event === name);

describe('SIP + MIKEY through kamailio in the lab', () => {
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    lab = await startSipLab({ prefix: 'sipt-' });
    ({ pcap, process: capture } = await captureSip(lab));
  }, 400_000);

  afterAll(async () => {
    capture?.kill('SIGKILL');
    await lab?.stop();
  });

  it('calls bob through kamailio: keyed before 200 OK / ACK, media over ESP, 0 packets lost at start, SAs gone after BYE + linger', async () => {
    const bob = lab.ua('bob', lab.uaConfig('bob'), ['answer', '--count', '1', '--timeout', '120']);
    await bob.waitFor('register-done', 60_000, (e) => e.status === 200);
    const alice = lab.ua('alice', lab.uaConfig('alice'), ['call', URI.bob, '--duration', '2']);
    await alice.waitFor('media-start', 60_000);
    // Mid-call: SAs on both hosts, and ESP counters moving.
    await new Promise((r) => setTimeout(r, 1000));
    const stateA = await lab.xfrm('alice', 'state');
    const stateB = await lab.xfrm('bob', 'state');
    expect(stateA.match(/proto esp/g)).toHaveLength(2);
    expect(stateB.match(/proto esp/g)).toHaveLength(2);
    expect(await alice.exit).toBe(0);
    expect(await bob.exit).toBe(0);
    const a = alice.events;
    const b = bob.events;
    // Ordering: bob's SAs before his 200 OK; alice's before her ACK; media after the ACK.
    expect(ev(b, 'sas-installed')!.t).toBeLessThan(ev(b, '200-sent')!.t);
    expect(ev(a, 'sas-installed')!.t).toBeLessThan(ev(a, 'ack-sent')!.t);
    expect(ev(a, 'ack-sent')!.t).toBeLessThanOrEqual(ev(a, 'media-start')!.t);
    expect(ev(b, 'ack-received')!.t).toBeLessThanOrEqual(ev(b, 'media-start')!.t);
    expect(ev(a, 'invite-sent')).toMatchObject({ mikey: true });
    // Media: both directions arrived, none lost at the start.
    const ma = ev(a, 'media-stats')!;
    const mb = ev(b, 'media-stats')!;
    // 50 packets/s nominal; UML's timers run slow, so only ask for a steady flow.
    expect(ma.received as number).toBeGreaterThan(20);
    expect(mb.received as number).toBeGreaterThan(20);
    expect(ma.lostAtStart).toBe(0);
    expect(mb.lostAtStart).toBe(0);
    expect(ev(a, 'released')).toBeTruthy();
    expect(ev(b, 'released')).toBeTruthy();
    expect((await lab.xfrm('alice', 'state')).match(/proto esp/g)).toHaveLength(2); // lingering
    // After BYE the SAs linger (64*T1), then go.
    expect(await lab.waitNoSas(120_000)).toBe(true);
  }, 300_000);

  it('answers a MIKEY offer it cannot accept with 488, a Warning and the MIKEY error message', async () => {
    // bob's sipsecd has another PSK for carol: the MAC check fails, the UA turns the refusal into a 488.
    const bob = lab.ua('bob', lab.uaConfig('bob'), ['answer', '--count', '1', '--timeout', '120']);
    await bob.waitFor('register-done', 60_000, (e) => e.status === 200);
    const alice = lab.ua('alice', lab.uaConfig('alice', { uri: CAROL, register: 'false' }), ['call', URI.bob]);
    expect(await alice.exit).toBe(1);
    await bob.exit;
    expect(ev(alice.events, 'invite-rejected')).toMatchObject({ status: 488, mikeyError: true, warning: expect.stringMatching(/^399 sipsec "MIKEY: /) });
    expect(ev(bob.events, 'invite-refused')).toMatchObject({ status: 488 });
    expect(ev(alice.events, 'released')).toBeTruthy();
    expect((await lab.xfrm('bob', 'state')).match(/proto esp/g) ?? []).toHaveLength(0);
  }, 180_000);

  it('415 from a callee that reads only application/sdp: fallback refuse gives up, fallback clear calls in clear', async () => {
    const bob = lab.ua('bob', lab.uaConfig('bob', { multipart: 'false', ipsec: 'false' }), ['answer', '--count', '3', '--timeout', '120']);
    await bob.waitFor('register-done', 60_000, (e) => e.status === 200);
    const refuse = lab.ua('alice', lab.uaConfig('alice', { fallback: 'refuse' }), ['call', URI.bob]);
    expect(await refuse.exit).toBe(1);
    expect(ev(refuse.events, 'invite-rejected')).toMatchObject({ status: 415 });
    expect(ev(refuse.events, 'fallback')).toMatchObject({ to: 'refuse' });
    const clear = lab.ua('alice', lab.uaConfig('alice', { fallback: 'clear' }), ['call', URI.bob, '--duration', '1']);
    expect(await clear.exit).toBe(0);
    expect(ev(clear.events, 'fallback')).toMatchObject({ to: 'clear' });
    expect(ev(clear.events, 'media-stats')).toMatchObject({ lostAtStart: 0 });
    bob.child.kill('SIGTERM');
  }, 240_000);

  it('tshark dissects every captured SIP message without a malformed mark', async () => {
    await new Promise((r) => setTimeout(r, 1000));
    capture.kill('SIGINT');
    await new Promise((r) => capture.once('exit', r));
    // One pass (tshark is slow under UML): every frame with its protocols, info, MIKEY type and malformed mark.
    const r = await lab.t.exec('proxy', [
      'tshark', '-r', pcap, '-o', 'mime_multipart.remove_base64_encoding:TRUE', '-d', 'tcp.port==5060,sip',
      '-T', 'fields', '-E', 'separator=/t', '-e', 'frame.number', '-e', 'frame.protocols', '-e', '_ws.col.Info', '-e', 'mikey.type', '-e', '_ws.malformed',
    ], { timeoutMs: 200_000 });
    // No trim(): a line's trailing empty fields must stay.
    const frames = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.split('\t'));
    const sip = frames.filter((f) => /:sip/.test(f[1]!));
    expect(sip.length).toBeGreaterThan(20);
    expect(sip.some((f) => /INVITE/.test(f[2]!))).toBe(true);
    expect(frames.filter((f) => (f[3] ?? '') !== '').length).toBeGreaterThanOrEqual(2); // MIKEY offer and answer dissected
    expect(frames.filter((f) => (f[4] ?? '') !== '' || /malformed/i.test(f[1]!))).toEqual([]);
  }, 240_000);
});