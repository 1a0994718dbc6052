/**
 * call-setup: seed 003 fig. 13 with our reference UA (`sipsec ua`) and our
 * daemon, inside the lab: alice and bob, each with its own sipsecd, call
 * through kamailio (registrar + record-routing proxy, digest auth), the SIP
 * lab of src/lab/demo-lab.ts.  Four modes: no security, MIKEY-PSK/ESP,
 * MIKEY-DH/ESP (RSA certificates, group 14), MIKEY-DHHMAC/ESP (group 14);
 * each twice: the callee accepting right after its 180 (as seed 003's
 * minisip), and ringing RING_S first, as a user picking up.
 *
 * Both UAs run with `--timeline` (the UA's CallMark hook); ∂1-∂7 are
 * computed from the marks by call-phases.ts (shared with `npm run demo`).
 *
 * Our UA auto-answers: it accepts the call `--ring` seconds after it sends
 * 180.  Its sipsecd prepares the call (MIKEY response, both SAs) from the 180
 * on, the UA sends the answer in a 183, and activates it (policies) at
 * accept, so with a ring time ∂4 holds only the activation.  The caller's
 * sipsecd confirms the 183's answer early (SAs, no policy); at the 200 OK
 * only the policies are left (`confirm` of the same message).  Unlike the
 * seed's minisip, our caller installs its SAs BEFORE it sends the ACK, so ∂5
 * holds the caller's policies and ∂6 ends after the ACK.  One more case,
 * PSK ringing with the callee's 183 turned off (`earlyAnswer: false`), is the
 * same-run baseline of the caller's early confirm.
 * One warm-up call per case is made and not counted.  Media: 50 packets/s
 * each way from the ACK on; a packet missing before the first one received
 * is a packet lost at call start.  Where the time goes: the sipsecd round
 * trips (answer, confirm) from the marks, and a complete MIKEY exchange of
 * the mode measured in this process, in the same boot.
 */
import type { OakleyGroup } from '../mikey/dh.js';
import { ReplayCache } from '../mikey/replay.js';
import type { MikeyMode } from '../mikey/result.js';
import { startSipLab, URI, type LabMikey, type SipLab, type UaEventLine, type UaRun } from '../lab/demo-lab.js';
import { callDeltas, DELTAS, marksOf, MissingMarkError, SEED, span, type CallMarks } from './call-phases.js';
import { toCsv } from './csv.js';
import { BenchError } from './install.js';
import { ALICE, BOB, PSK, requireLab } from './lab-env.js';
import { exchange } from './mikey.js';
import { benchPki, benchPkiPem } from './pki.js';
import type { BenchResult, BenchSize, Check } from './results.js';
import { fmtRatio, ratio, summarize, timeNs, type Summary } from './stats.js';
import { barChart } from './svg.js';

const CALLS: Record<BenchSize, number> = { tiny: 3, small: 20, full: 50 };
/** Seconds of media per call. */
const DURATION = 0.5;
const DH_GROUP: OakleyGroup = 14;
/** Seconds the callee rings before it accepts, in the ringing cases: a user picking up. */
const RING_S = 1;

interface Case {
  readonly name: string;
  /** The daemons' MIKEY mode (the no-security case shares the PSK lab, its UAs do not key). */
  readonly lab: LabMikey['mode'];
  readonly ipsec: boolean;
  /** Seconds the callee rings before it accepts (`sipsec ua answer --ring`). */
  readonly ringS: number;
  /** The callee sends no 183 (`earlyAnswer: false`): the caller confirms at the 200 OK only. */
  readonly no183?: boolean;
}

const CASES: readonly Case[] = [
  { name: 'no security', lab: 'psk', ipsec: false },
  { name: 'MIKEY-PSK/ESP', lab: 'psk', ipsec: true },
  { name: 'MIKEY-DH/ESP', lab: 'dh', ipsec: true },
  { name: 'MIKEY-DHHMAC/ESP', lab: 'dhhmac', ipsec: true },
].flatMap((c) => [
  { ...c, lab: c.lab as Case['lab'], ringS: 0 },
  { ...c, lab: c.lab as Case['lab'], name: `${c.name}, ring ${RING_S} s`, ringS: RING_S },
  ...(c.lab === 'psk' && c.ipsec ? [{ ...c, lab: c.lab as Case['lab'], name: `${c.name}, ring ${RING_S} s, no 183`, ringS: RING_S, no183: true }] : []),
]);

interface CallSample {
  /** ∂1..∂7 in ms. */
  readonly d: number[];
  /** sipsecd prepare round trip (callee: 180 sent → SAs prepared), ms; NaN without security. */
  readonly prepare: number;
  /** What sipsecd still takes at accept (callee: accept → SAs activated: the rest of prepare, if any, and activate), ms. */
  readonly answer: number;
  /** sipsecd confirm round trip (caller: 200 OK → SAs installed), ms. */
  readonly confirm: number;
  /** Caller: 180 received → SAs prepared from the 183's answer (its early confirm), ms; NaN when there was none. */
  readonly early: number;
  /** Media packets lost at call start: sent by the callee / by the caller. */
  readonly lostFromCallee: number;
  readonly lostFromCaller: number;
  readonly sentByCallee: number;
  readonly sentByCaller: number;
}

interface CaseResult {
  readonly c: Case;
  readonly calls: CallSample[];
  /** A complete MIKEY exchange of the mode in this process (both sides), ms. */
  readonly mikeyMs?: Summary;
}

function mediaOf(events: readonly UaEventLine[]): Map<string, UaEventLine> {
  return new Map(events.filter((e) => e.event === 'media-stats' && e.callId !== undefined).map((e) => [e.callId!, e]));
}

/** One case: bob answers n+1 calls, alice makes them one after the other (the first is a warm-up). */
async function runCase(lab: SipLab, c: Case, n: number, onProgress: (what: string) => void): Promise<CallSample[]> {
  const extra: Record<string, string> = c.ipsec ? {} : { ipsec: 'false' };
  const total = n + 1;
  const bob = lab.ua('bob', lab.uaConfig('bob', c.no183 ? { ...extra, earlyAnswer: 'false' } : extra), ['--timeline', 'answer', '--count', String(total), '--timeout', String(total * 30 + 120), '--ring', String(c.ringS)]);
  let alice: UaRun | undefined;
  let said = '';
  const progress = setInterval(() => {
    const now = `${c.name}: ${alice?.events.filter((e) => e.event === 'call-ended').length ?? 0}/${total} calls (1 warm-up)`;
    if (now !== said) onProgress((said = now));
  }, 1000);
  try {
    await bob.waitFor('register-done', 120_000, (e) => e.status === 200);
    alice = lab.ua('alice', lab.uaConfig('alice', extra), ['--timeline', 'call', URI.bob, '--calls', String(total), '--duration', String(DURATION)]);
    const deadline = new Promise<number>((r) => setTimeout(() => r(-1), (total * 30 + 120) * 1000).unref());
    const [codeA, codeB] = [await Promise.race([alice.exit, deadline]), await Promise.race([bob.exit, deadline])];
    if (codeA !== 0 || codeB !== 0) {
      const failed = [...alice.events, ...bob.events].filter((e) => /failed|refused|rejected|timeout/.test(e.event)).slice(0, 3);
      throw new BenchError(`${c.name}: UAs exited ${codeA} (alice) ${codeB} (bob): ${JSON.stringify(failed)} ${alice.stderr().slice(-300)} ${bob.stderr().slice(-300)}`);
    }
  } finally {
    clearInterval(progress);
    alice?.child.kill('SIGKILL');
    bob.child.kill('SIGKILL');
  }
  const ma = marksOf(alice.events);
  const mb = marksOf(bob.events);
  const media = { a: mediaOf(alice.events), b: mediaOf(bob.events) };
  const order = alice.events.filter((e) => e.event === 'timeline' && e.mark === 'dial').map((e) => e.callId!);
  if (order.length !== total) throw new BenchError(`${c.name}: ${order.length} calls dialled, ${total} wanted`);
  return order.slice(1).map((id) => {
    const side = { caller: ma.get(id) ?? {}, callee: mb.get(id) ?? {} };
    const spans = <T>(f: (m: { caller: CallMarks; callee: CallMarks }) => T): T => {
      try {
        return f(side);
      } catch (e) {
        throw e instanceof MissingMarkError ? new BenchError(`${c.name}: call ${id} has ${e.message}`) : e;
      }
    };
    const fromA = media.a.get(id);
    const fromB = media.b.get(id);
    if (!fromA || !fromB) throw new BenchError(`${c.name}: call ${id} has no media-stats`);
    // lostAtStart is null when nothing was counted: then every packet the peer sent counts as lost
    // (under load often a call shorter than the two sides' start skew: docs/PERFORMANCE.md).
    const lost = (rx: UaEventLine, tx: UaEventLine) => (rx.lostAtStart === null ? Number(tx.sent) : Number(rx.lostAtStart));
    return {
      d: spans(callDeltas),
      prepare: c.ipsec ? spans((m) => span(m, 'callee', 'ringing-sent', 'sas-prepared')) : NaN,
      answer: c.ipsec ? spans((m) => span(m, 'callee', 'accepted', 'sas-installed')) : NaN,
      confirm: c.ipsec ? spans((m) => span(m, 'caller', 'ok-received', 'sas-installed')) : NaN,
      early: side.caller['sas-prepared'] !== undefined && side.caller['ringing-received'] !== undefined ? side.caller['sas-prepared'] - side.caller['ringing-received'] : NaN,
      lostFromCallee: lost(fromA, fromB),
      lostFromCaller: lost(fromB, fromA),
      sentByCallee: Number(fromB.sent),
      sentByCaller: Number(fromA.sent),
    };
  });
}

/** Complete MIKEY exchanges of `mode` in this process (both sides, no kernel), ms. */
async function mikeyInProcess(mode: MikeyMode, n: number, pki: ReturnType<typeof benchPki>): Promise<Summary> {
  const c = { label: mode, mode, ...(mode === 'psk' ? {} : { dhGroup: DH_GROUP }) };
  const replay = new ReplayCache({ maxEntries: 100_000 });
  await exchange(c, pki.alice, pki.bob, replay, 0x100);
  const ns: number[] = [];
  for (let i = 0; i < n; i++) ns.push(await timeNs(() => exchange(c, pki.alice, pki.bob, replay, 0x200 + 2 * i)));
  return summarize(ns.map((x) => x / 1e6));
}

const ms = (v: number): string => (Number.isFinite(v) ? v.toFixed(v >= 100 ? 0 : 2) : '-');
const f3 = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : '');
const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

export async function benchCallSetup(size: BenchSize, onProgress: (what: string) => void = () => undefined): Promise<BenchResult> {
  requireLab();
  const n = CALLS[size];
  onProgress('making certificates');
  const pem = benchPkiPem(URI.alice, URI.bob);
  const pki = benchPki(ALICE, BOB, PSK); // for the in-process exchanges (mikey.ts names)
  const results: CaseResult[] = [];
  for (const mode of ['psk', 'dh', 'dhhmac'] as const) {
    onProgress(`${mode} lab: kamailio + sipsecd on alice and bob`);
    const lab = await startSipLab({ prefix: `cs${mode[0]}${mode.length}-`, mikey: mode === 'dh' ? { mode, pem } : { mode } });
    try {
      for (const c of CASES.filter((x) => x.lab === mode)) results.push({ c, calls: await runCase(lab, c, n, onProgress) });
    } finally {
      await lab.stop();
    }
  }
  const inProcess = new Map<MikeyMode, Summary>();
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if (!r.c.ipsec) continue;
    if (!inProcess.has(r.c.lab)) {
      onProgress(`${r.c.lab}: MIKEY exchanges in-process`);
      inProcess.set(r.c.lab, await mikeyInProcess(r.c.lab, n, pki));
    }
    results[i] = { ...r, mikeyMs: inProcess.get(r.c.lab)! };
  }

  const sum = (r: CaseResult, k: number): Summary => {
    const xs = r.calls.map((x) => x.d[k]!).filter(Number.isFinite);
    return xs.length ? summarize(xs) : { n: 0, min: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  };
  const noRinging = results.map((r) => `${r.c.name} ${r.calls.filter((x) => !Number.isFinite(x.d[1]!)).length}`).join(', ');
  /** The no-security case that rang as long as `r`: the baseline of its ratios. */
  const clearFor = (r: CaseResult) => results.find((x) => !x.c.ipsec && x.c.ringS === r.c.ringS)!;
  const cell = (s: Summary) => `${ms(s.mean)} (${ms(s.p50)}/${ms(s.p90)})`;
  const seedCols = Object.keys(SEED) as (keyof typeof SEED)[];
  const immediate = {
    title: `Call setup delays, ms: mean (p50/p90) over ${n} calls per case (1 warm-up call not counted), callee accepting right after 180, next to seed 003 fig. 13 (means of 8 calls)`,
    headers: ['∂', 'interval', ...seedCols.map((s) => `seed ${s}`), ...results.filter((r) => r.c.ringS === 0).map((r) => r.c.name)],
    rows: DELTAS.map((x, k) => [x.id, `${x.side}: ${x.what}`, ...seedCols.map((s) => ms(SEED[s][k]!)), ...results.filter((r) => r.c.ringS === 0).map((r) => cell(sum(r, k)))]),
    notes: [
      'Our callee answers by itself: here it accepts right after it sends 180 (as the seed\'s minisip), so ∂4 holds all of sipsecd\'s prepare + activate.',
      'Our caller installs its SAs (sipsecd confirm) BEFORE it sends ACK, the seed\'s minisip after: our ∂5 holds the install (only its policies when',
      'the callee\'s 183 came first and the caller\'s sipsecd had installed the pair from it; accepting at once, the 200 OK often overtakes that early confirm),',
      'the seed\'s ∂6 does; our ∂6 ends when media starts (SAs in place and the ACK sent). The callee installs inside ∂4 in both.',
      'The seed installed SAs with 2 pfkey_send_add calls of ~330 ms each on a 2005 PC (Linux 2.6.10); we use XFRM netlink.',
      `∂2 leaves out calls whose 180 reached the caller after the 200 OK (kamailio forwards them from different workers): ${noRinging}.`,
    ],
  };
  const ringing = results.filter((r) => r.c.ringS === RING_S);
  const ringTable = {
    title: `The same, callee ringing ${RING_S} s before it accepts (a user picking up): both sipsecds key while it rings (callee prepare, its 183, caller early confirm), ∂4 holds only the callee's activation, ∂5/∂6 only the caller's`,
    headers: ['∂', 'interval', ...ringing.map((r) => r.c.name)],
    rows: DELTAS.map((x, k) => [x.id, `${x.side}: ${x.what}`, ...ringing.map((r) => cell(sum(r, k)))]),
    notes: [
      `∂7 (accept → ACK) and ∂4 start at accept, ${RING_S} s after the 180; ∂2 and ∂3 end at the 180.`,
      '"no 183": the callee sends no 183 (earlyAnswer: false), so the caller verifies and installs everything at the 200 OK (the flow before the 183): the same-run baseline.',
    ],
  };
  const earlyCell = (r: CaseResult) => {
    const xs = r.calls.map((x) => x.early).filter(Number.isFinite);
    return xs.length ? `${ms(mean(xs))} (${xs.length}/${r.calls.length})` : '-';
  };
  const lost = (r: CaseResult) => r.calls.reduce((a, x) => a + x.lostFromCallee + x.lostFromCaller, 0);
  const sent = (r: CaseResult) => r.calls.reduce((a, x) => a + x.sentByCallee + x.sentByCaller, 0);
  const whereTable = {
    title: 'Where the time goes (means, ms) and media lost at call start',
    headers: ['case', 'calls', 'sipsecd prepare (from 180)', '∂4', 'sipsecd at accept', '∂4 − at accept', 'caller early confirm (from 180)', '∂5', 'sipsecd confirm', '∂5 − confirm', 'MIKEY exchange in-process', 'lost at start (callee→caller / caller→callee)', 'media sent'],
    rows: results.map((r) => {
      const d4 = sum(r, 3).mean;
      const d5 = sum(r, 4).mean;
      const answer = mean(r.calls.map((x) => x.answer));
      const confirm = mean(r.calls.map((x) => x.confirm));
      return [
        r.c.name, String(r.calls.length), ms(mean(r.calls.map((x) => x.prepare))), ms(d4), ms(answer), ms(d4 - answer), earlyCell(r), ms(d5), ms(confirm), ms(d5 - confirm),
        r.mikeyMs ? ms(r.mikeyMs.mean) : '-',
        `${r.calls.reduce((a, x) => a + x.lostFromCallee, 0)} / ${r.calls.reduce((a, x) => a + x.lostFromCaller, 0)}`,
        String(sent(r)),
      ];
    }),
    notes: [
      'sipsecd prepare = callee 180 sent → prepared (socket round trip: MIKEY respond, ALLOCSPI, UPDSA, NEWSA; no policy);',
      'sipsecd at accept = callee accept → SAs active (what is left of prepare, if the user accepts before it is done, + activate: the policies);',
      'caller early confirm = caller 180 received → SAs prepared from the 183\'s answer (MIKEY verify, UPDSA, NEWSA; no policy): mean, and in how many calls it was done before the 200 OK;',
      'sipsecd confirm = caller 200 OK received → SAs installed (after an early confirm: the policies only; else MIKEY verify, NEWSA/UPDSA, policies).',
      `MIKEY exchange in-process = offer + respond + verify, both sides, one thread, this boot (DH group ${DH_GROUP}): the crypto share of the two round trips.`,
      'Calls after the first of a case find the peer\'s lingering SAs: the new pair goes in make-before-break (registry.ts).',
      'Media: each side counts until 200 ms after the call ended for it (caller: BYE answered, callee: BYE received), so the peer\'s last packets are counted.',
    ],
  };
  const checks: Check[] = [];
  for (const r of results.filter((x) => x.c.ipsec && !x.c.no183)) {
    const clear = clearFor(r);
    for (const k of [3, 5]) {
      const q = ratio(sum(r, k).mean, sum(clear, k).mean);
      checks.push({ what: `${r.c.name} ${DELTAS[k]!.id} vs ${clear.c.name} (mean)`, target: '<= 1.2x', measured: `${fmtRatio(q)} (${ms(sum(r, k).mean)} vs ${ms(sum(clear, k).mean)} ms)`, met: q <= 1.2 });
    }
  }
  for (const r of results) checks.push({ what: `${r.c.name}: media packets lost at call start`, target: '0', measured: `${lost(r)} of ${sent(r)} sent`, met: lost(r) === 0 });

  const csvCalls = toCsv(
    ['case', 'call', ...DELTAS.map((x) => `d${x.id.slice(1)}_ms`), 'sipsecd_prepare_ms', 'sipsecd_at_accept_ms', 'caller_early_confirm_ms', 'sipsecd_confirm_ms', 'lost_from_callee', 'lost_from_caller', 'sent_by_callee', 'sent_by_caller'],
    results.flatMap((r) => r.calls.map((x, i) => [r.c.name, i + 1, ...x.d.map(f3), f3(x.prepare), f3(x.answer), f3(x.early), f3(x.confirm), x.lostFromCallee, x.lostFromCaller, x.sentByCallee, x.sentByCaller])),
  );
  const csvSummary = toCsv(
    ['case', 'delta', 'interval', 'n', 'mean_ms', 'p50_ms', 'p90_ms', 'seed_no_security_ms', 'seed_mikey_srtp_ms', 'seed_mikey_esp_ms'],
    results.flatMap((r) => DELTAS.map((x, k) => {
      const s = sum(r, k);
      return [r.c.name, x.id, `${x.side}: ${x.what}`, s.n, f3(s.mean), f3(s.p50), f3(s.p90), ...seedCols.map((c) => SEED[c][k]!)];
    })),
  );
  return {
    name: 'call-setup',
    tables: [immediate, ringTable, whereTable],
    csv: { 'call-setup': csvSummary, 'call-setup-calls': csvCalls },
    svg: {
      'call-setup': barChart({
        title: `Call setup delays through kamailio, mean of ${n} calls (seed 003 fig. 13 intervals)`,
        yLabel: 'ms',
        categories: DELTAS.map((x) => x.id),
        series: results.map((r) => ({ name: r.c.name, values: DELTAS.map((_, k) => sum(r, k).mean) })),
      }),
    },
    checks,
    context: { size, calls: String(n), suite: 'aes-gcm-128', dhGroup: String(DH_GROUP), mediaSeconds: String(DURATION), ringSeconds: String(RING_S) },
  };
}
