/**
 * The end-to-end demo (`npm run demo`), run inside the lab as root:
 * alice calls sip:bob@example.org through kamailio; both UAs key the call
 * through their sipsecd; media flows over ESP.  Prints each step and ends
 * non-zero when any check fails.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ADDR, LINGER_SECONDS, startSipLab, URI, type SipLab, type UaEventLine, type UaRun } from './demo-lab.js';

let failures = 0;
const t0 = Date.now();
const say = (text: string): void => void process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${text}\n`);
function check(ok: boolean, what: string): void {
  say(`${ok ? 'OK  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

const DESCRIBE: Record<string, (e: UaEventLine) => string> = {
  'register-done': (e) => `REGISTER → ${e.status}`,
  'offer-made': (e) => `sipsecd made the MIKEY offer (${e.mikeyBytes} bytes)`,
  'invite-sent': (e) => `INVITE with MIKEY+SDP sent (${e.bytes} bytes over ${String(e.transport).toUpperCase()})`,
  'invite-received': (e) => `INVITE received (${e.contentType}, body ${e.bytes} bytes)`,
  'sas-installed': (e) => `sipsecd installed ${e.sas} SAs (${e.role})`,
  '200-sent': () => '200 OK with the MIKEY response sent',
  '2xx-received': () => '200 OK received',
  'ack-sent': () => 'ACK sent',
  'ack-received': () => 'ACK received',
  'media-start': (e) => `media started to ${e.to}`,
  'media-stats': (e) => `media: sent ${e.sent}, received ${e.received}, lost at start ${e.lostAtStart}, lost inside ${e.lostInside}`,
  'bye-sent': () => 'BYE sent',
  'bye-received': () => 'BYE received',
  released: () => 'call released in sipsecd (SAs linger)',
  'answer-refused': (e) => `sipsecd refused the offer: ${e.code} ${e.detail}`,
  'invite-rejected': (e) => `INVITE rejected: ${e.status} ${e.warning}`,
  'call-failed': (e) => `call failed: ${e.reason ?? e.status} ${e.detail ?? ''}`,
};

function narrate(name: string, ua: UaRun): void {
  let shown = 0;
  const timer = setInterval(() => {
    for (; shown < ua.events.length; shown++) {
      const e = ua.events[shown]!;
      const d = DESCRIBE[e.event];
      if (d) say(`${name.padEnd(5)} ${d(e)}`);
    }
  }, 50);
  void ua.exit.then(() => setTimeout(() => clearInterval(timer), 200));
}

const espSummary = (state: string): string =>
  [...state.matchAll(/src (\S+) dst (\S+)\s+proto esp spi (0x[0-9a-f]+)[\s\S]*?lifetime current:\s+(\d+)\(bytes\), (\d+)\(packets\)/g)]
    .map((m) => `${m[1]}→${m[2]} spi ${m[3]}: ${m[5]} packets`)
    .join('; ');

async function demo(lab: SipLab): Promise<void> {
  say(`lab up: alice ${ADDR.alice}, bob ${ADDR.bob}, kamailio ${ADDR.proxy} (registrar + record-routing proxy, digest auth); sipsecd on alice and bob`);
  const pcap = join(lab.dir, 'demo.pcap');
  const capture = lab.t.spawn('proxy', ['tshark', '-q', '-i', 'eth0', '-f', 'port 5060', '-w', pcap]);
  for (let i = 0; i < 1800 && !(existsSync(pcap) && statSync(pcap).size > 0); i++) await new Promise((r) => setTimeout(r, 100));

  const bob = lab.ua('bob', lab.uaConfig('bob'), ['answer', '--count', '1', '--timeout', '120']);
  narrate('bob', bob);
  await bob.waitFor('register-done', 90_000);
  const alice = lab.ua('alice', lab.uaConfig('alice'), ['call', URI.bob, '--duration', '3']);
  narrate('alice', alice);
  await alice.waitFor('media-start', 90_000);
  await new Promise((r) => setTimeout(r, 1500));
  say(`alice ESP SAs: ${espSummary(await lab.xfrm('alice', 'state'))}`);
  say(`bob   ESP SAs: ${espSummary(await lab.xfrm('bob', 'state'))}`);
  await alice.waitFor('call-ended', 90_000);
  const lingering = await lab.xfrm('alice', 'state');
  const [codeA, codeB] = [await alice.exit, await bob.exit];
  const ev = (u: UaRun, n: string) => u.events.find((e) => e.event === n);
  check(codeA === 0 && codeB === 0, `both UAs ended well (exit ${codeA}, ${codeB})`);
  const at = (u: UaRun, n: string) => ev(u, n)?.t ?? NaN;
  check(at(bob, 'sas-installed') < at(bob, '200-sent'), `bob's SAs installed before his 200 OK (${(at(bob, '200-sent') - at(bob, 'sas-installed')).toFixed(1)} ms before)`);
  check(at(alice, 'sas-installed') < at(alice, 'ack-sent'), `alice's SAs installed before her ACK (${(at(alice, 'ack-sent') - at(alice, 'sas-installed')).toFixed(1)} ms before)`);
  check(at(alice, 'ack-sent') <= at(alice, 'media-start'), 'alice started media only after the ACK');
  const ma = ev(alice, 'media-stats');
  const mb = ev(bob, 'media-stats');
  check(ma?.lostAtStart === 0 && mb?.lostAtStart === 0, `media packets lost at call start: ${ma?.lostAtStart ?? '?'} (alice), ${mb?.lostAtStart ?? '?'} (bob)`);
  check(Number(ma?.received) > 0 && Number(mb?.received) > 0, `media over ESP: alice received ${ma?.received}, bob received ${mb?.received}`);
  check(/proto esp/.test(lingering), 'right after BYE the SAs are still there (linger)');
  const released = Date.now();
  const gone = await lab.waitNoSas((LINGER_SECONDS + 60) * 1000);
  check(gone, `after the linger (${LINGER_SECONDS} s = 64*T1) all SAs are gone on alice and bob (${((Date.now() - released) / 1000).toFixed(0)} s after the check)`);

  capture.kill('SIGINT');
  await new Promise((r) => capture.once('exit', r));
  const r = await lab.t.exec('proxy', [
    'tshark', '-r', pcap, '-o', 'mime_multipart.remove_base64_encoding:TRUE', '-d', 'tcp.port==5060,sip',
    '-T', 'fields', '-E', 'separator=/t', '-e', 'ip.src', '-e', 'ip.dst', '-e', '_ws.col.Info', '-e', 'mikey.type', '-e', '_ws.malformed', '-e', 'frame.protocols',
  ], { timeoutMs: 200_000 });
  const frames = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.split('\t'));
  say('SIP as tshark dissects it on the proxy (src → dst, message, MIKEY type):');
  for (const f of frames.filter((x) => /:sip/.test(x[5] ?? ''))) process.stdout.write(`           ${f[0]} → ${f[1]}  ${(f[2] ?? '').replace(/ \| $/, '')}${f[3] ? `  [MIKEY type ${f[3]}]` : ''}\n`);
  check(frames.length > 0 && frames.every((f) => (f[4] ?? '') === '' && !/malformed/i.test(f[5] ?? '')), `tshark: ${frames.length} frames, no malformed packet`);
}

async function main(): Promise<number> {
  const lab = await startSipLab({ prefix: 'demo-' });
  try {
    await demo(lab);
  } catch (e) {
    say(`FAIL ${(e as Error).message}`);
    failures++;
  } finally {
    await lab.stop();
  }
  say(failures === 0 ? 'demo passed' : `demo FAILED (${failures} checks)`);
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();
