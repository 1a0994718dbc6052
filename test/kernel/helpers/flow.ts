// A continuous UDP flow between two lab hosts, counted on both ends: the
// sender sends one numbered datagram every `intervalMs` from an unbound
// socket (the kernel picks the source address, so the flow follows an
// address change), the echo side records every number it receives and sends
// it back.  Both report as JSON, so a test can say which packets were lost
// and when they were sent.
import type { Topology } from '../../../src/lab/topology.js';

const PORT = 9000;

// Plain CommonJS for `node -e` inside a host's namespace.
const ECHO = `
const s = require('node:dgram').createSocket(process.argv[1]);
const seen = [];
s.on('message', (m, r) => { if (m.length >= 4) { seen.push(m.readUInt32BE(0)); s.send(m, r.port, r.address); } });
s.on('error', () => {});
s.bind(${PORT}, process.argv[1] === 'udp6' ? '::' : '0.0.0.0', () => process.stdout.write('ready\\n'));
process.on('SIGTERM', () => { process.stdout.write(JSON.stringify({ seen }) + '\\n'); process.exit(0); });
`;

const SEND = `
const [family, dst, count, interval] = process.argv.slice(1);
const s = require('node:dgram').createSocket(family);
const sentAt = [];
const errors = [];
const echoed = new Set();
s.on('message', (m) => echoed.add(m.readUInt32BE(0)));
s.on('error', () => {});
let seq = 0;
const tick = () => {
  if (seq >= Number(count)) {
    clearInterval(timer);
    setTimeout(() => { process.stdout.write(JSON.stringify({ sentAt, errors, echoed: [...echoed] }) + '\\n'); process.exit(0); }, 1500);
    return;
  }
  const n = seq++;
  if (n === 0) process.stdout.write('sending\\n');
  const b = Buffer.alloc(64);
  b.writeUInt32BE(n, 0);
  sentAt.push(Date.now());
  s.send(b, ${PORT}, dst, (e) => { if (e) errors.push(n); });
};
const timer = setInterval(tick, Number(interval));
`;

export interface FlowResult {
  /** Send time (epoch ms) of each sequence number. */
  sentAt: number[];
  /** Sequence numbers whose send failed locally (e.g. no source address). */
  errors: number[];
  /** Received by the echo side. */
  seen: number[];
  /** Echoes back at the sender. */
  echoed: number[];
}

export interface Flow {
  /** Resolves when the sender has sent its first packet (node starts slowly in a loaded UML). */
  sending: Promise<void>;
  /** Resolves when the sender has sent `count` packets and waited for the last echoes. */
  done: Promise<FlowResult>;
}

export async function startFlow(t: Topology, from: string, to: string, dst: string, count: number, intervalMs: number): Promise<Flow> {
  const family = dst.includes(':') ? 'udp6' : 'udp4';
  const echo = t.spawn(to, [process.execPath, '-e', ECHO, family]);
  let echoOut = '';
  echo.stdout!.on('data', (c: Buffer) => (echoOut += c.toString()));
  for (let i = 0; i < 600 && !echoOut.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  if (!echoOut.includes('ready')) throw new Error('flow echo did not start');
  const sender = t.spawn(from, [process.execPath, '-e', SEND, family, dst, String(count), String(intervalMs)]);
  let sendOut = '';
  let started!: () => void;
  const sending = new Promise<void>((r) => (started = r));
  sender.stdout!.on('data', (c: Buffer) => {
    sendOut += c.toString();
    if (sendOut.includes('sending')) started();
  });
  sender.once('exit', () => started());
  const done = (async (): Promise<FlowResult> => {
    await new Promise((r) => sender.once('exit', r));
    const exited = new Promise((r) => echo.once('exit', r));
    echo.kill('SIGTERM');
    await exited;
    const s = JSON.parse(sendOut.slice(sendOut.indexOf('{')).trim()) as Omit<FlowResult, 'seen'>;
    const e = JSON.parse(echoOut.slice(echoOut.indexOf('{')).trim()) as { seen: number[] };
    return { ...s, seen: e.seen };
  })();
  return { sending, done };
}
