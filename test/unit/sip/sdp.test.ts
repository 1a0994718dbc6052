import { describe, expect, it } from 'vitest';
import { SdpError } from '../../../src/sip/errors.js';
import { buildAudioSdp, mediaFlows } from '../../../src/sip/sdp.js';
import { MINISIP_SDP } from './minisip-seed.js';

const sdp = (...lines: string[]): string => `${lines.join('\r\n')}\r\n`;
const head = ['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 't=0 0'];

function sdpError(f: () => unknown): SdpError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SdpError);
    return e as SdpError;
  }
  throw new Error('expected an SdpError');
}

describe('mediaFlows', () => {
  it("reads minisip's SDP (seed 003 §5.2)", () => {
    expect(mediaFlows(sdp(...MINISIP_SDP))).toEqual([
      { media: 'audio', address: '192.16.125.178', family: 4, port: 33730, rtcpPort: 33731, transport: 'udp' },
    ]);
  });

  it('prefers media-level c=, handles IPv6, a=rtcp, rtcp-mux, TCP, and skips port 0', () => {
    const flows = mediaFlows(
      sdp(
        ...head,
        'c=IN IP4 192.0.2.1',
        'm=audio 4000 RTP/AVP 0',
        'a=rtcp:4005',
        'm=video 0 RTP/AVP 31',
        'm=video 5000 RTP/SAVPF 96',
        'c=IN IP6 2001:db8::5',
        'a=rtcp-mux',
        'm=application 9 TCP/MSRP *',
      ),
    );
    expect(flows).toEqual([
      { media: 'audio', address: '192.0.2.1', family: 4, port: 4000, rtcpPort: 4005, transport: 'udp' },
      { media: 'video', address: '2001:db8::5', family: 6, port: 5000, rtcpPort: 5000, transport: 'udp' },
      { media: 'application', address: '192.0.2.1', family: 4, port: 9, rtcpPort: null, transport: 'tcp' },
    ]);
  });

  it('rejects SDP it cannot turn into selectors', () => {
    expect(sdpError(() => mediaFlows(sdp(...head, 'm=audio 4000 RTP/AVP 0'))).status).toBe(400); // no c=
    expect(sdpError(() => mediaFlows(sdp(...head, 'c=IN IP4 host.example', 'm=audio 4000 RTP/AVP 0'))).status).toBe(488);
    expect(sdpError(() => mediaFlows(sdp(...head, 'c=IN IP4 224.2.1.1/127', 'm=audio 4000 RTP/AVP 0'))).status).toBe(488);
    expect(sdpError(() => mediaFlows(sdp(...head, 'c=IN IP6 192.0.2.1', 'm=audio 4000 RTP/AVP 0'))).status).toBe(488);
    expect(sdpError(() => mediaFlows(sdp(...head, 'c=IN IP4 192.0.2.1', 'm=audio 70000 RTP/AVP 0'))).status).toBe(400);
    expect(sdpError(() => mediaFlows(sdp(...head, 'c=IN IP4 192.0.2.1', 'm=audio 4000/2 RTP/AVP 0'))).status).toBe(400);
    expect(sdpError(() => mediaFlows(sdp(...head, 'c=IN IP4 192.0.2.1', 'm=audio 4000 SCTP 0'))).status).toBe(488);
    expect(sdpError(() => mediaFlows(sdp(...head, 'c=IN IP4 192.0.2.1', 'm=audio 4000 RTP/AVP 0', 'a=rtcp:0'))).status).toBe(400);
    expect(sdpError(() => mediaFlows(sdp(...head, 'garbage line'))).status).toBe(400);
    expect(sdpError(() => mediaFlows('o=- 1 1 IN IP4 192.0.2.1\r\n')).status).toBe(400);
    expect(sdpError(() => mediaFlows(sdp(...head, 'c=IN IP4 192.0.2.1', ...Array(17).fill('m=audio 4000 RTP/AVP 0')))).status).toBe(400);
  });
});

describe('buildAudioSdp', () => {
  it('writes a one-stream RTP/AVP offer (byte-exact)', () => {
    expect(buildAudioSdp({ address: '192.0.2.7', port: 40000, sessionId: '12345678901234567890' })).toBe(
      'v=0\r\n' +
        'o=- 12345678901234567890 12345678901234567890 IN IP4 192.0.2.7\r\n' +
        's=sipsec\r\n' +
        'c=IN IP4 192.0.2.7\r\n' +
        't=0 0\r\n' +
        'm=audio 40000 RTP/AVP 0\r\n' +
        'a=rtpmap:0 PCMU/8000\r\n',
    );
  });

  it('writes IPv6 and several codecs, and mediaFlows reads it back', () => {
    const out = buildAudioSdp({
      address: '2001:db8::7',
      port: 40002,
      sessionId: '1',
      sessionVersion: '2',
      username: 'alice',
      sessionName: 'A call',
      codecs: [
        { payload: 0, name: 'PCMU', rate: 8000 },
        { payload: 8, name: 'PCMA', rate: 8000 },
      ],
    });
    expect(out).toContain('o=alice 1 2 IN IP6 2001:db8::7\r\ns=A call\r\n');
    expect(out).toContain('m=audio 40002 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n');
    expect(mediaFlows(out)).toEqual([{ media: 'audio', address: '2001:db8::7', family: 6, port: 40002, rtcpPort: 40003, transport: 'udp' }]);
  });

  it('rejects bad input', () => {
    expect(sdpError(() => buildAudioSdp({ address: 'host.example', port: 1, sessionId: '1' })).status).toBe(400);
    expect(sdpError(() => buildAudioSdp({ address: '192.0.2.1', port: 0, sessionId: '1' })).status).toBe(400);
    expect(sdpError(() => buildAudioSdp({ address: '192.0.2.1', port: 1, sessionId: '-1' })).status).toBe(400);
    expect(sdpError(() => buildAudioSdp({ address: '192.0.2.1', port: 1, sessionId: '1', username: 'a b\r\n' })).status).toBe(400);
    expect(sdpError(() => buildAudioSdp({ address: '192.0.2.1', port: 1, sessionId: '1', codecs: [] })).status).toBe(400);
    expect(sdpError(() => buildAudioSdp({ address: '192.0.2.1', port: 1, sessionId: '1', sessionName: ' x' })).status).toBe(400);
    const badCodec = { payload: 128, name: 'X', rate: 8000 };
    expect(sdpError(() => buildAudioSdp({ address: '192.0.2.1', port: 1, sessionId: '1', codecs: [badCodec] })).status).toBe(400);
  });
});
