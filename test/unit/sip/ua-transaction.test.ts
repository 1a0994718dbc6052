// RFC 3261 §17 transaction timers with a manual clock and an in-memory network.
import { describe, expect, it } from 'vitest';
import { parseSipMessage, type SipRequest } from '../../../src/sip/message.js';
import { ManualClock } from '../../../src/sip/ua/clock.js';
import { buildResponse } from '../../../src/sip/ua/build.js';
import { TransactionLayer, type ServerTransaction } from '../../../src/sip/ua/transaction.js';
import { MemoryNetwork, UDP_SIZE_LIMIT, type Target } from '../../../src/sip/ua/transport.js';

const B: Target = { transport: 'udp', address: '10.0.0.2', port: 5060 };

function request(method: string, bodyBytes = 0): SipRequest {
  return {
    kind: 'request',
    method,
    uri: 'sip:bob@10.0.0.2',
    headers: [
      { name: 'From', value: '<sip:alice@example.org>;tag=a1' },
      { name: 'To', value: '<sip:bob@example.org>' },
      { name: 'Call-ID', value: 'c1@10.0.0.1' },
      { name: 'CSeq', value: `1 ${method}` },
      { name: 'Max-Forwards', value: '70' },
    ],
    body: new Uint8Array(bodyBytes).fill(0x61),
  };
}

function setup() {
  const net = new MemoryNetwork();
  const clock = new ManualClock();
  const a = new TransactionLayer(net.attach('10.0.0.1', 5060), clock);
  const b = new TransactionLayer(net.attach('10.0.0.2', 5060), clock);
  const got: { method: string; tx: ServerTransaction }[] = [];
  b.tu = { onRequest: (req, tx) => got.push({ method: req.method, tx }), onAck: () => {}, onStrayResponse: () => {} };
  a.tu = { onRequest: () => {}, onAck: () => {}, onStrayResponse: () => {} };
  const flush = () => new Promise((r) => setImmediate(r));
  const sentTo = (addr: string, method?: string) =>
    net.sent.filter((s) => s.to.address === addr).map((s) => parseSipMessage(s.data)).filter((m) => method === undefined || (m.kind === 'request' ? m.method : `${m.status}`) === method);
  return { net, clock, a, b, got, flush, sentTo };
}

describe('INVITE client transaction (§17.1.1)', () => {
  it('Timer A retransmits at T1, 2T1, 4T1 ... over UDP and Timer B times out at 64*T1', async () => {
    const { net, clock, a, sentTo } = setup();
    net.drop = () => true;
    let timedOut = 0;
    a.request(request('INVITE'), B, { onResponse: () => {}, onTimeout: () => timedOut++ });
    const times: number[] = [];
    const count = () => sentTo('10.0.0.2', 'INVITE').length;
    let last = count();
    for (let ms = 0; ms <= 32_000; ms += 100) {
      if (count() !== last) {
        times.push(clock.now());
        last = count();
      }
      clock.advance(100);
    }
    expect(times).toEqual([500, 1500, 3500, 7500, 15500, 31500]);
    expect(timedOut).toBe(1);
  });

  it('over TCP sends once, no Timer A', async () => {
    const { net, clock, a, sentTo } = setup();
    net.drop = () => true;
    let timedOut = 0;
    a.request(request('INVITE'), { ...B, transport: 'tcp' }, { onResponse: () => {}, onTimeout: () => timedOut++ });
    clock.advance(31_999);
    expect(sentTo('10.0.0.2', 'INVITE')).toHaveLength(1);
    expect(timedOut).toBe(0);
    clock.advance(1);
    expect(timedOut).toBe(1);
  });

  it('a 1xx stops retransmissions; a 486 is ACKed with the same branch, and a retransmitted 486 is ACKed again (Timer D)', async () => {
    const { clock, a, got, flush, sentTo } = setup();
    const statuses: number[] = [];
    const tx = a.request(request('INVITE'), B, { onResponse: (r) => statuses.push(r.status), onTimeout: () => {} });
    await flush();
    expect(got).toHaveLength(1);
    await flush();
    expect(statuses).toEqual([100]); // the server transaction's immediate 100 Trying
    clock.advance(4000);
    expect(sentTo('10.0.0.2', 'INVITE')).toHaveLength(1);
    got[0]!.tx.respond(buildResponse(tx.request, 486, { toTag: 'b1' }));
    await flush();
    await flush();
    expect(statuses).toEqual([100, 486]);
    const acks = sentTo('10.0.0.2', 'ACK');
    expect(acks).toHaveLength(1);
    const via = (m: { headers: readonly { name: string; value: string }[] }) => m.headers.find((h) => h.name === 'Via')!.value;
    expect(via(acks[0]!)).toBe(via(tx.request));
    expect(acks[0]!.headers.find((h) => h.name === 'To')!.value).toContain('tag=b1');
    expect(tx.state).toBe('completed');
    // Server: Timer G retransmits the 486 until the ACK, which it has got: no more.
    clock.advance(2000);
    await flush();
    expect(sentTo('10.0.0.1', '486')).toHaveLength(1);
    clock.advance(32_000);
    expect(tx.state).toBe('terminated');
  });

  it('a 2xx moves to Accepted (RFC 6026): later 2xx go to the TU, Timer M ends it', async () => {
    const { clock, a, got, flush } = setup();
    const statuses: number[] = [];
    const tx = a.request(request('INVITE'), B, { onResponse: (r) => statuses.push(r.status), onTimeout: () => {} });
    await flush();
    const ok = buildResponse(tx.request, 200, { toTag: 'b1' });
    got[0]!.tx.respond(ok);
    got[0]!.tx.respond(ok); // UAS core retransmission
    await flush();
    await flush();
    expect(statuses).toEqual([100, 200, 200]);
    expect(tx.state).toBe('accepted');
    clock.advance(32_000);
    expect(tx.state).toBe('terminated');
  });
});

describe('non-INVITE client transaction (§17.1.2)', () => {
  it('Timer E doubles up to T2 and Timer F times out at 64*T1', () => {
    const { net, clock, a, sentTo } = setup();
    net.drop = () => true;
    let timedOut = 0;
    a.request(request('OPTIONS'), B, { onResponse: () => {}, onTimeout: () => timedOut++ });
    const times: number[] = [];
    let last = 1;
    for (let ms = 0; ms <= 32_000; ms += 100) {
      const n = sentTo('10.0.0.2', 'OPTIONS').length;
      if (n !== last) {
        times.push(clock.now());
        last = n;
      }
      clock.advance(100);
    }
    expect(times.slice(0, 6)).toEqual([500, 1500, 3500, 7500, 11500, 15500]);
    expect(timedOut).toBe(1);
  });

  it('a final response completes it; Timer K (T4) ends it; the server answers retransmissions from its Completed state until Timer J', async () => {
    const { net, clock, a, got, flush, sentTo } = setup();
    let dropResponses = true;
    net.drop = (to) => dropResponses && to.address === '10.0.0.1';
    const statuses: number[] = [];
    const tx = a.request(request('BYE'), B, { onResponse: (r) => statuses.push(r.status), onTimeout: () => {} });
    await flush();
    got[0]!.tx.respond(buildResponse(got[0]!.tx.request, 200));
    dropResponses = false;
    clock.advance(500); // Timer E: the request again; the server resends its 200
    await flush();
    await flush();
    expect(got).toHaveLength(1);
    expect(sentTo('10.0.0.1', '200')).toHaveLength(2);
    expect(statuses).toEqual([200]);
    expect(tx.state).toBe('completed');
    clock.advance(5000);
    expect(tx.state).toBe('terminated');
    expect(got[0]!.tx.state).toBe('completed');
    clock.advance(32_000);
    expect(got[0]!.tx.state).toBe('terminated');
  });
});

describe('transport selection (§18.1.1)', () => {
  it('a request over 1300 bytes goes over TCP with a TCP Via', () => {
    const { net, a } = setup();
    const tx = a.request(request('INVITE', UDP_SIZE_LIMIT), B, { onResponse: () => {}, onTimeout: () => {} });
    expect(tx.target.transport).toBe('tcp');
    expect(net.sent[0]!.to.transport).toBe('tcp');
    expect(tx.request.headers[0]!.value).toMatch(/^SIP\/2\.0\/TCP 10\.0\.0\.1:5060;branch=z9hG4bK/);
    const small = a.request(request('INVITE', 100), B, { onResponse: () => {}, onTimeout: () => {} });
    expect(small.target.transport).toBe('udp');
  });
});
