// Foreign SIP software against our UA in the lab: sipp (sip-tester) as the
// caller, with a MIKEY part made by `sipsec mikey offer`, through kamailio to
// our UA, which keys the call through sipsecd; and our UA calling sipp
// acting as UAS (no MIKEY in its answer: the caller's fallback decides); and
// a downgrade: an INVITE whose MIKEY part a proxy stripped, refused with 488.
import { execFileSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDR, ROOT, startSipLab, URI, type SipLab } from '../../src/lab/demo-lab.js';

let lab: SipLab;

function uacScenario(mikeyB64: string): string {
  const b64 = mikeyB64.match(/.{1,76}/g)!.join('\n');
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="sipsec UAC with a MIKEY offer">
  <send retrans="500"><![CDATA[
INVITE sip:bob@example.org SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <${URI.alice}>;tag=[pid]sipp[call_number]
To: <${URI.bob}>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:alice@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: multipart/mixed;boundary=sipp-mikey
Content-Length: [len]

--sipp-mikey
Content-Type: application/mikey
Content-Transfer-Encoding: base64

${b64}
--sipp-mikey
Content-Type: application/sdp

v=0
o=alice 1 1 IN IP4 [local_ip]
s=sipp
c=IN IP4 [local_ip]
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000

--sipp-mikey--
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: <${URI.alice}>;tag=[pid]sipp[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <pause milliseconds="1000"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
From: <${URI.alice}>;tag=[pid]sipp[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
`;
}

/** An INVITE as a proxy that strips the MIKEY part would forward it: SDP only. */
const STRIPPED_UAC = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="INVITE with the MIKEY part stripped">
  <send retrans="500"><![CDATA[
INVITE sip:bob@example.org SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <${URI.alice}>;tag=[pid]sipp[call_number]
To: <${URI.bob}>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:alice@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=alice 1 1 IN IP4 [local_ip]
s=sipp
c=IN IP4 [local_ip]
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000

]]></send>
  <recv response="100" optional="true"/>
  <recv response="488">
    <action>
      <ereg regexp="IPsec \\(MIKEY\\) required" search_in="hdr" header="Warning:" check_it="true" assign_to="w"/>
    </action>
  </recv>
  <send><![CDATA[
ACK sip:bob@example.org SIP/2.0
[last_Via:]
From: <${URI.alice}>;tag=[pid]sipp[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <Reference variables="w"/>
</scenario>
`;

describe('sipp against the reference UA', () => {
  beforeAll(async () => {
    expect(process.env.SIPSEC_LAB_INSIDE).toBe('1');
    lab = await startSipLab({ prefix: 'sipp-' });
  }, 240_000);

  afterAll(async () => {
    await lab?.stop();
  });

  it('sipp calls our UA through kamailio with a MIKEY offer from `sipsec mikey offer`: the UA keys the call before 200 OK', async () => {
    const bob = lab.ua('bob', lab.uaConfig('bob'), ['answer', '--count', '1', '--timeout', '120']);
    await bob.waitFor('register-done', 90_000, (e) => e.status === 200);
    const offer = execFileSync(process.execPath, [
      join(ROOT, 'bin/sipsec.js'), 'mikey', 'offer', '--mode', 'psk', '--id', URI.alice, '--peer-id', URI.bob,
      '--addr', ADDR.alice, '--spi', '305419896', '--psk-file', join(lab.dir, 'psk'), '--state', join(lab.dir, 'sipp-offer.state'),
    ]).toString().split('\n')[0]!;
    const scenario = join(lab.dir, 'uac-mikey.xml');
    writeFileSync(scenario, uacScenario(offer));
    chmodSync(scenario, 0o644);
    const sipp = await lab.t.exec('alice', ['sipp', '-sf', scenario, '-i', ADDR.alice, '-p', '5070', '-m', '1', '-timeout', '90s', '-nostdin', `${ADDR.proxy}:5060`], { timeoutMs: 120_000 });
    expect(sipp.code, `${JSON.stringify(bob.events)}\n${sipp.stderr.slice(-1500)}`).toBe(0);
    expect(await bob.exit).toBe(0);
    const ev = (n: string) => bob.events.find((e) => e.event === n);
    expect(ev('invite-received')).toMatchObject({ contentType: 'multipart/mixed' });
    expect(ev('sas-installed')).toMatchObject({ role: 'callee', sas: 2 });
    expect(ev('sas-installed')!.t).toBeLessThan(ev('200-sent')!.t);
    expect(ev('progress-sent')).toMatchObject({ status: 183, bytes: ev('200-sent')!.bytes }); // the answer previewed in a 183
    expect(ev('ack-received')).toBeTruthy();
    expect(ev('bye-received')).toBeTruthy();
    expect(ev('released')).toBeTruthy();
  }, 240_000);

  it('our UA calls sipp acting as UAS; sipp answers without MIKEY, so fallback=clear goes on in clear (logged) and fallback=refuse hangs up', async () => {
    expect(await lab.waitNoSas(120_000)).toBe(true); // the first test's SAs lingered
    const uas = lab.t.spawn('bob', ['sipp', '-sn', 'uas', '-i', ADDR.bob, '-p', '5070', '-m', '2', '-nostdin']);
    await new Promise((r) => setTimeout(r, 3000));
    // bob's URI (sipsecd has credentials for it), sent to sipp as the outbound proxy.
    const target = URI.bob;
    const clear = lab.ua('alice', lab.uaConfig('alice', { proxy: `${ADDR.bob}:5070`, register: 'false', fallback: 'clear' }), ['call', target, '--duration', '1']);
    expect(await clear.exit, `${JSON.stringify(clear.events)}\n${clear.stderr()}`).toBe(0);
    const evc = (n: string) => clear.events.find((e) => e.event === n);
    expect(evc('invite-sent')).toMatchObject({ mikey: true });
    expect(evc('fallback')).toMatchObject({ to: 'clear', reason: '2xx without MIKEY' });
    expect(evc('bye-done')).toMatchObject({ status: 200 });
    const refuse = lab.ua('alice', lab.uaConfig('alice', { proxy: `${ADDR.bob}:5070`, register: 'false', fallback: 'refuse' }), ['call', target]);
    expect(await refuse.exit).toBe(1);
    expect(refuse.events.find((e) => e.event === 'call-failed')).toMatchObject({ reason: 'answer' });
    expect(refuse.events.find((e) => e.event === 'bye-sent')).toBeTruthy();
    const code = await new Promise<number | null>((r) => uas.on('exit', r));
    expect(code).toBe(0);
  }, 360_000);

  it('refuses an INVITE whose MIKEY part a proxy stripped (policy requires IPsec): 488 with a Warning, nothing keyed, no call in clear', async () => {
    expect(await lab.waitNoSas(120_000)).toBe(true);
    const bob = lab.ua('bob', lab.uaConfig('bob', { fallback: 'refuse' }), ['answer', '--count', '1', '--timeout', '120']);
    await bob.waitFor('register-done', 90_000, (e) => e.status === 200);
    const scenario = join(lab.dir, 'uac-stripped.xml');
    writeFileSync(scenario, STRIPPED_UAC);
    chmodSync(scenario, 0o644);
    const sipp = await lab.t.exec('alice', ['sipp', '-sf', scenario, '-i', ADDR.alice, '-p', '5071', '-m', '1', '-timeout', '90s', '-nostdin', `${ADDR.proxy}:5060`], { timeoutMs: 120_000 });
    expect(sipp.code, `${JSON.stringify(bob.events)}\n${sipp.stderr.slice(-1500)}`).toBe(0);
    const ev = (n: string) => bob.events.find((e) => e.event === n);
    await bob.waitFor('invite-refused', 30_000);
    expect(ev('invite-received')).toMatchObject({ contentType: 'application/sdp' });
    expect(ev('invite-refused')).toMatchObject({ status: 488 });
    expect(ev('200-sent')).toBeUndefined();
    expect(ev('sas-installed')).toBeUndefined();
    expect(await lab.waitNoSas(5_000)).toBe(true);
    expect(await bob.exit).toBe(1); // its one call ended refused
  }, 240_000);
});
