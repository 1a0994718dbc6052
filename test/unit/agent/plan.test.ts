import { describe, expect, it } from 'vitest';
import { selectorsFor } from '../../../src/agent/plan.js';

const SDP = ['v=0', 'o=- 1 1 IN IP4 10.0.0.2', 's=-', 'c=IN IP4 10.0.0.2', 't=0 0', 'm=audio 40002 RTP/AVP 0', ''].join('\r\n');

describe('selectorsFor (protection scope)', () => {
  it('hosts: all traffic between the two addresses', () => {
    expect(selectorsFor('hosts', '10.0.0.1', '10.0.0.2', SDP)).toEqual([{ src: '10.0.0.1', dst: '10.0.0.2' }]);
  });

  it("media: the peer's RTP and RTCP ports of its SDP, UDP only", () => {
    expect(selectorsFor('media', '10.0.0.1', '10.0.0.2', SDP)).toEqual([
      { src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', dstPort: 40002 },
      { src: '10.0.0.1', dst: '10.0.0.2', proto: 'udp', dstPort: 40003 },
    ]);
  });

  it('media without an SDP, or with no media in it, falls back to the hosts selector', () => {
    expect(selectorsFor('media', '10.0.0.1', '10.0.0.2', undefined)).toEqual([{ src: '10.0.0.1', dst: '10.0.0.2' }]);
    expect(selectorsFor('media', '10.0.0.1', '10.0.0.2', SDP.replace('m=audio 40002', 'm=audio 0'))).toEqual([{ src: '10.0.0.1', dst: '10.0.0.2' }]);
  });
});
