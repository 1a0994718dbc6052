/**
 * The end-to-end demo (`npm run demo`), run inside the lab as root:
 * alice calls sip:bob@example.org through kamailio; both UAs key the call
 * through their sipsecd; media (RTP-sized UDP, 50 packets/s) flows over ESP,
 * and so does a TCP transfer between the two hosts during the call (the
 * SAs protect all their traffic).  A capture on alice's link counts ESP
 * frames against cleartext UDP/TCP frames between alice and bob (SIP goes
 * through the proxy, so none is expected); ∂1-∂7 of seed 003 fig. 13 come
 * from the UAs' --timeline marks (call-phases.ts, as in the call-setup
 * benchmark).  Prints each step and ends non-zero when any check fails.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callDeltas, DELTAS, marksOf, SEED } from '../bench/call-phases.js';
import { formatTable } from '../bench/table.js';
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
  'ringing-sent': () => '180 Ringing sent',
  'progress-sent': () => '183 Session Progress with the MIKEY response sent (the 200 OK repeats it)',
  'sas-prepared': (e) => `sipsecd installed ${e.sas} SAs from the 183, no policy yet (${e.role})`,
  provisional: (e) => `${e.status} received`,
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

interface EspCounter {
  readonly src: string;
  readonly dst: string;
  readonly spi: string;
  readonly bytes: number;
  readonly packets: number;
}

/** The ESP SAs' counters from `ip -s xfrm state` (the kernel's view; nothing else of the output is kept). */
const espCounters = (state: string): EspCounter[] =>
  [...state.matchAll(/src (\S+) dst (\S+)\s+proto esp spi (0x[0-9a-f]+)[\s\S]*?lifetime current:\s+(\d+)\(bytes\), (\d+)\(packets\)/g)].map((m) => ({
    src: m[1]!,
    dst: m[2]!,
    spi: m[3]!,
    bytes: Number(m[4]),
    packets: Number(m[5]),
  }));
const espSummary = (state: string): string => espCounters(state).map((c) => `${c.src}→${c.dst} spi ${c.spi}: ${c.packets} packets, ${c.bytes} bytes`).join('; ');

const TCP_PORT = 9100;
const TCP_BYTES = 512 * 1024;
// Plain CommonJS for `node -e` inside a host's namespace: a sink that counts what one connection brings ...
const TCP_SINK = `
const srv = require('node:net').createServer((s) => {
  let n = 0;
  s.on('data', (c) => (n += c.length));
  s.on('end', () => { process.stdout.write(JSON.stringify({ received: n }) + '\\n'); s.end(); srv.close(); });
});
srv.listen(${TCP_PORT}, process.argv[1], () => process.stdout.write('ready\\n'));
`;
// ... and a source that sends it random bytes once the file `go` exists (node starts slowly in a
// loaded UML: both are started before the call, so the transfer itself falls inside it).
const TCP_SOURCE = `
const [host, bytes, go] = process.argv.slice(1);
const fs = require('node:fs');
process.stdout.write('ready\\n');
const wait = setInterval(() => {
  if (!fs.existsSync(go)) return;
  clearInterval(wait);
  const t0 = Date.now();
  const s = require('node:net').connect(${TCP_PORT}, host, () => s.end(require('node:crypto').randomBytes(Number(bytes))));
  s.on('close', () => process.stdout.write(JSON.stringify({ sent: Number(bytes), ms: Date.now() - t0 }) + '\\n'));
}, 20);
`;

/** Start `script` on `host` and wait until it says ready; its output so far, and its exit. */
async function startScript(lab: SipLab, host: 'alice' | 'bob', script: string, args: string[]): Promise<{ out: () => string; exit: Promise<unknown> }> {
  const p = lab.t.spawn(host, [process.execPath, '-e', script, ...args]);
  let out = '';
  p.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exit = new Promise((r) => p.once('exit', r));
  for (let i = 0; i < 3000 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  if (!out.includes('ready')) throw new Error(`the TCP ${host === 'bob' ? 'sink' : 'source'} on ${host} did not start`);
  return { out: () => out, exit };
}

/** A TCP transfer of TCP_BYTES from alice to bob, both ends started; `run` lets it go and waits for its end. */
async function tcpTransfer(lab: SipLab): Promise<{ run(): Promise<{ received: number; ms: number }> }> {
  const go = join(lab.dir, 'tcp-go');
  const sink = await startScript(lab, 'bob', TCP_SINK, [ADDR.bob]);
  const source = await startScript(lab, 'alice', TCP_SOURCE, [ADDR.bob, String(TCP_BYTES), go]);
  const json = <T>(s: string): T => JSON.parse(s.slice(s.indexOf('{'))) as T;
  return {
    async run() {
      writeFileSync(go, '');
      await Promise.all([sink.exit, source.exit]);
      return { received: json<{ received: number }>(sink.out()).received, ms: json<{ ms: number }>(source.out()).ms };
    },
  };
}

/** Frames between alice and bob in a capture, as tshark dissects them. */
async function countFrames(lab: SipLab, pcap: string): Promise<{ total: number; esp: number; clear: number; other: number; spis: string[] }> {
  const r = await lab.t.exec('alice', ['tshark', '-r', pcap, '-T', 'fields', '-E', 'separator=/t', '-e', 'frame.protocols', '-e', 'esp.spi'], { timeoutMs: 300_000 });
  const frames = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.split('\t'));
  const esp = frames.filter((f) => /:esp(:|$)/.test(f[0]!));
  const clear = frames.filter((f) => !/:esp(:|$)/.test(f[0]!) && /:(udp|tcp)(:|$)/.test(f[0]!));
  const spis = [...new Set(esp.map((f) => f[1] ?? ''))].filter((x) => x !== '').map((x) => `0x${Number(x).toString(16).padStart(8, '0')}`);
  return { total: frames.length, esp: esp.length, clear: clear.length, other: frames.length - esp.length - clear.length, spis };
}

/** SAs on `host` as its sipsecd reports them (`sipsec sas`: never keys). */
async function sasOf(lab: SipLab, host: 'alice' | 'bob'): Promise<string[]> {
  const c = await lab.client(host);
  try {
    return (await c.sas()).sas.map((x) => `${x.direction.padEnd(3)} spi ${x.spi} ${x.src} → ${x.dst} ${x.suite}`);
  } finally {
    await c.close();
  }
}

const fmtMs = (v: number): string => (Number.isFinite(v) ? v.toFixed(v >= 100 ? 0 : 1) : '-');

async function demo(lab: SipLab): Promise<void> {
  say(`lab up: alice ${ADDR.alice}, bob ${ADDR.bob}, kamailio ${ADDR.proxy} (registrar + record-routing proxy, digest auth); sipsecd on alice and bob`);
  const pcap = join(lab.dir, 'demo.pcap');
  const capture = lab.t.spawn('proxy', ['tshark', '-q', '-i', 'eth0', '-f', 'port 5060', '-w', pcap]);
  for (let i = 0; i < 1800 && !(existsSync(pcap) && statSync(pcap).size > 0); i++) await new Promise((r) => setTimeout(r, 100));

  // The wire between the user hosts: every frame between alice and bob on alice's link (SIP goes via the proxy).
  const espPcap = join(lab.dir, 'alice-bob.pcap');
  const espCapture = lab.t.spawn('alice', ['dumpcap', '-q', '-i', 'eth0', '-f', `host ${ADDR.alice} and host ${ADDR.bob}`, '-w', espPcap]);
  for (let i = 0; i < 1800 && !(existsSync(espPcap) && statSync(espPcap).size > 0); i++) await new Promise((r) => setTimeout(r, 100));

  const transfer = await tcpTransfer(lab);
  const bob = lab.ua('bob', lab.uaConfig('bob'), ['--timeline', 'answer', '--count', '1', '--timeout', '180']);
  narrate('bob', bob);
  await bob.waitFor('register-done', 90_000);
  const alice = lab.ua('alice', lab.uaConfig('alice'), ['--timeline', 'call', URI.bob, '--duration', '20']);
  narrate('alice', alice);
  await alice.waitFor('media-start', 90_000);
  await new Promise((r) => setTimeout(r, 1500));
  say('SAs as sipsecd reports them (`sipsec sas`, no keys):');
  for (const h of ['alice', 'bob'] as const) for (const line of await sasOf(lab, h)) process.stdout.write(`           ${h.padEnd(5)} ${line}\n`);

  // General host traffic is protected too: a TCP transfer alice → bob during the call, counted by the ESP SAs.
  const before = { alice: espCounters(await lab.xfrm('alice', 'state')), bob: espCounters(await lab.xfrm('bob', 'state')) };
  say(`TCP: sending ${TCP_BYTES / 1024} KiB from alice to bob ${ADDR.bob}:${TCP_PORT} during the call`);
  const tcp = await transfer.run();
  const tcpDone = Date.now();
  const after = { alice: espCounters(await lab.xfrm('alice', 'state')), bob: espCounters(await lab.xfrm('bob', 'state')) };
  const grew = (h: 'alice' | 'bob', src: string, dst: string) => {
    const b0 = before[h].find((c) => c.src === src && c.dst === dst);
    const b1 = after[h].find((c) => c.src === src && c.dst === dst && c.spi === b0?.spi);
    return b0 && b1 ? { spi: b1.spi, bytes: b1.bytes - b0.bytes, packets: b1.packets - b0.packets } : undefined;
  };
  say('ESP SA counters (kernel, `ip -s xfrm state`) across the TCP transfer (the media keeps flowing meanwhile):');
  for (const h of ['alice', 'bob'] as const) {
    for (const [src, dst] of [[ADDR.alice, ADDR.bob], [ADDR.bob, ADDR.alice]] as const) {
      const g = grew(h, src, dst);
      const b0 = before[h].find((c) => c.src === src && c.dst === dst);
      const b1 = after[h].find((c) => c.src === src && c.dst === dst);
      process.stdout.write(`           ${h.padEnd(5)} ${src}→${dst} spi ${b1?.spi ?? '?'}: ${b0?.packets ?? '?'} → ${b1?.packets ?? '?'} packets, ${b0?.bytes ?? '?'} → ${b1?.bytes ?? '?'} bytes (+${g?.bytes ?? '?'})\n`);
    }
  }
  const outA = grew('alice', ADDR.alice, ADDR.bob);
  const inB = grew('bob', ADDR.alice, ADDR.bob);
  check(tcp.received === TCP_BYTES, `TCP: bob received ${tcp.received} of ${TCP_BYTES} bytes in ${(tcp.ms / 1000).toFixed(1)} s`);
  check((outA?.bytes ?? 0) >= TCP_BYTES && (inB?.bytes ?? 0) >= TCP_BYTES, `the transfer went through ESP: alice's outbound SA +${outA?.bytes ?? '?'} bytes (+${outA?.packets ?? '?'} packets), bob's inbound SA +${inB?.bytes ?? '?'} bytes, both >= ${TCP_BYTES}`);

  await alice.waitFor('call-ended', 120_000);
  const lingering = await lab.xfrm('alice', 'state');
  say(`alice ESP SAs after the call: ${espSummary(lingering)}`);
  say(`bob   ESP SAs after the call: ${espSummary(await lab.xfrm('bob', 'state'))}`);
  const [codeA, codeB] = [await alice.exit, await bob.exit];
  const ev = (u: UaRun, n: string) => u.events.find((e) => e.event === n);
  check(codeA === 0 && codeB === 0, `both UAs ended well (exit ${codeA}, ${codeB})`);
  check(tcpDone < (ev(alice, 'bye-sent')?.t ?? 0), 'the TCP transfer ended before the BYE (inside the call)');
  const at = (u: UaRun, n: string) => ev(u, n)?.t ?? NaN;
  check(at(bob, 'sas-installed') < at(bob, '200-sent'), `bob's SAs installed before his 200 OK (${(at(bob, '200-sent') - at(bob, 'sas-installed')).toFixed(1)} ms before)`);
  check(at(alice, 'sas-installed') < at(alice, 'ack-sent'), `alice's SAs installed before her ACK (${(at(alice, 'ack-sent') - at(alice, 'sas-installed')).toFixed(1)} ms before)`);
  check(at(alice, 'ack-sent') <= at(alice, 'media-start'), 'alice started media only after the ACK');
  const ma = ev(alice, 'media-stats');
  const mb = ev(bob, 'media-stats');
  check(ma?.lostAtStart === 0 && mb?.lostAtStart === 0, `media packets lost at call start: ${ma?.lostAtStart ?? '?'} (alice), ${mb?.lostAtStart ?? '?'} (bob)`);
  check(Number(ma?.received) > 0 && Number(mb?.received) > 0, `media over ESP: alice received ${ma?.received}, bob received ${mb?.received}`);
  // The capture: what crossed alice's link between alice and bob from before the INVITE to after the BYE.
  espCapture.kill('SIGINT');
  await new Promise((r) => espCapture.once('exit', r));
  const wire = await countFrames(lab, espPcap);
  say(`capture on alice's link, alice ↔ bob, from before the INVITE to after the BYE (tshark): ${wire.total} frames: ${wire.esp} ESP (SPIs ${wire.spis.join(', ')}), ${wire.clear} UDP/TCP in clear, ${wire.other} other (neither IP/UDP/TCP nor ESP: ARP)`);
  const mediaAtAlice = Number(ma?.sent) + Number(ma?.received);
  check(wire.clear === 0, `no cleartext UDP or TCP frame between alice and bob on the wire (${wire.clear})`);
  check(wire.esp >= mediaAtAlice, `every media packet alice sent or received crossed her link as ESP (${wire.esp} ESP frames >= ${mediaAtAlice} media packets, the rest is the TCP transfer)`);

  // ∂1-∂7 of seed 003 fig. 13, from the UAs' --timeline marks (the call-setup benchmark's code).
  const callId = ev(alice, 'timeline')?.callId ?? '';
  const d = callDeltas({ caller: marksOf(alice.events).get(callId) ?? {}, callee: marksOf(bob.events).get(callId) ?? {} });
  const seedCols = Object.keys(SEED) as (keyof typeof SEED)[];
  process.stdout.write(
    formatTable({
      title: 'Call setup delays of this call, ms (UA --timeline marks), next to seed 003 fig. 13 (means of 8 calls):',
      headers: ['∂', 'interval', 'this call', ...seedCols.map((c) => `seed ${c}`)],
      rows: DELTAS.map((x, k) => [x.id, `${x.side}: ${x.what}`, fmtMs(d[k]!), ...seedCols.map((c) => fmtMs(SEED[c][k]!))]),
      notes: [
        'One call, the first of a fresh boot (the benchmark leaves a warm-up call out), in a UML lab: `npm run bench -- call-setup` gives means over many calls.',
        'Our caller installs its SAs before the ACK (∂5), the seed\'s after it (∂6); both callees install inside ∂4.',
      ],
    })
      .trimEnd()
      .replace(/^/gm, '           ') + '\n',
  );
  check(d.every((x, k) => k === 1 || Number.isFinite(x)), 'every ∂ except possibly ∂2 (a 180 overtaken by the 200 OK) measured');

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
