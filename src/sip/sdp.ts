/**
 * SDP (RFC 4566 / RFC 8866) media flows for traffic selectors, and the audio
 * offer/answer our UA sends (RFC 3264).
 *
 *   v=0
 *   o=<username> <sess-id> <sess-version> IN IP4|IP6 <address>
 *   s=<session name>
 *   c=IN IP4|IP6 <connection-address>      ; session level, or per m=
 *   t=0 0
 *   m=<media> <port>[/<n>] <proto> <fmt> ...
 *   a=rtcp:<port> [IN IP4 <addr>]          ; RFC 3605
 *   a=rtcp-mux                             ; RFC 5761
 *
 * Parsing is done by sdp-transform; its output is checked here (it accepts
 * nearly anything) and every problem becomes an SdpError.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { parse, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { SdpError } from './errors.js';

export const MAX_SDP_BYTES = 16 * 1024;
export const MAX_MEDIA = 16;

export interface MediaFlow {
  /** m= media type: audio, video, ... */
  readonly media: string;
  readonly address: string;
  readonly family: 4 | 6;
  readonly port: number;
  /** a=rtcp port, the RTP port under rtcp-mux, RTP port + 1 by default; null for non-RTP media. */
  readonly rtcpPort: number | null;
  readonly transport: 'udp' | 'tcp';
}

const LINE_RE = /^[a-z]=/;

function parseSdp(sdp: string): SessionDescription {
  if (Buffer.byteLength(sdp, 'utf8') > MAX_SDP_BYTES) throw new SdpError(`SDP over ${MAX_SDP_BYTES} bytes`, 400);
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines[0] !== 'v=0') throw new SdpError('SDP does not start with v=0', 400);
  for (const l of lines) if (!LINE_RE.test(l)) throw new SdpError('SDP line is not <type>=<value>', 400);
  try {
    return parse(sdp);
  } catch {
    throw new SdpError('SDP does not parse', 400);
  }
}

function transportOf(protocol: string): 'udp' | 'tcp' {
  const p = protocol.toUpperCase();
  if (p === 'UDP' || p.startsWith('RTP/') || p.startsWith('UDP/')) return 'udp';
  if (p === 'TCP' || p.startsWith('TCP/')) return 'tcp';
  throw new SdpError(`media transport ${protocol.slice(0, 40)} not supported`);
}

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

function connectionOf(m: MediaDescription, session: SessionDescription): { address: string; family: 4 | 6 } {
  const c = m.connection ?? session.connection;
  if (c === undefined) throw new SdpError(`m=${m.type} has no c= line at media or session level`, 400);
  const ip = String(c.ip);
  if (c.version === 4 && isIPv4(ip)) return { address: ip, family: 4 };
  if (c.version === 6 && isIPv6(ip)) return { address: ip, family: 6 };
  throw new SdpError(`c= address is not a unicast IP${c.version} literal`);
}

/**
 * The media flows of an SDP: one per m= line with a non-zero port (port 0
 * means a rejected or disabled stream, RFC 3264 §6, and is left out).
 */
export function mediaFlows(sdp: string): MediaFlow[] {
  const session = parseSdp(sdp);
  const media = session.media ?? [];
  if (media.length > MAX_MEDIA) throw new SdpError(`more than ${MAX_MEDIA} m= lines`, 400);
  const flows: MediaFlow[] = [];
  for (const m of media) {
    // sdp-transform leaves type/port unset when the m= line does not match
    // "<media> <digits> <proto>", e.g. a port range "4000/2".
    if (typeof m.type !== 'string' || m.type.length === 0) throw new SdpError('malformed m= line', 400);
    if (m.port === 0) continue;
    if (!isPort(m.port)) throw new SdpError(`m=${m.type} has a bad port or a port range`, 400);
    const transport = transportOf(String(m.protocol));
    const isRtp = /(^|\/)RTP\//i.test(String(m.protocol));
    let rtcpPort: number | null = null;
    if (m.rtcpMux !== undefined) rtcpPort = m.port;
    else if (m.rtcp !== undefined) {
      if (!isPort(m.rtcp.port)) throw new SdpError(`m=${m.type} has a bad a=rtcp port`, 400);
      rtcpPort = m.rtcp.port;
    } else if (isRtp) {
      if (m.port === 65535) throw new SdpError(`m=${m.type} RTP port 65535 leaves no RTCP port`, 400);
      rtcpPort = m.port + 1;
    }
    flows.push({ media: m.type, ...connectionOf(m, session), port: m.port, rtcpPort, transport });
  }
  return flows;
}

export interface AudioCodec {
  readonly payload: number;
  readonly name: string;
  readonly rate: number;
}

export interface AudioSdpOptions {
  /** Our media address, an IPv4 or IPv6 literal (used in o= and c=). */
  readonly address: string;
  readonly port: number;
  /** o= sess-id; a decimal string so large values survive. */
  readonly sessionId: string;
  readonly sessionVersion?: string;
  readonly username?: string;
  readonly sessionName?: string;
  readonly codecs?: readonly AudioCodec[];
}

const PCMU: AudioCodec = { payload: 0, name: 'PCMU', rate: 8000 };

/** A one-stream RTP/AVP audio offer or answer (RFC 3264 §5, §6). */
export function buildAudioSdp(opts: AudioSdpOptions): string {
  const family = isIPv4(opts.address) ? 4 : isIPv6(opts.address) ? 6 : null;
  if (family === null) throw new SdpError('SDP address is not an IP literal', 400);
  if (!isPort(opts.port)) throw new SdpError('SDP port out of range', 400);
  const ids = [opts.sessionId, opts.sessionVersion ?? opts.sessionId];
  if (!ids.every((id) => /^[0-9]{1,20}$/.test(id))) throw new SdpError('SDP session id/version not decimal', 400);
  const codecs = opts.codecs ?? [PCMU];
  if (codecs.length === 0) throw new SdpError('no audio codec', 400);
  for (const c of codecs) {
    if (!Number.isInteger(c.payload) || c.payload < 0 || c.payload > 127) throw new SdpError('RTP payload type not 0-127', 400);
    if (!Number.isInteger(c.rate) || c.rate <= 0) throw new SdpError('bad codec clock rate', 400);
  }
  // o= username and codec names: no spaces; s= text: spaces inside only.
  const text = (s: string, spaces = false): string => {
    const ok = spaces ? /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/ : /^[\x21-\x7e]+$/;
    if (!ok.test(s)) throw new SdpError('SDP text field has a forbidden character', 400);
    return s;
  };
  // Written by hand: sdp-transform's writer prints sess-version with %d,
  // which rounds values above 2**53.
  const ipVer = `IP${family}`;
  const lines = [
    'v=0',
    `o=${text(opts.username ?? '-')} ${ids[0]} ${ids[1]} IN ${ipVer} ${opts.address}`,
    `s=${text(opts.sessionName ?? 'sipsec', true)}`,
    `c=IN ${ipVer} ${opts.address}`,
    't=0 0',
    `m=audio ${opts.port} RTP/AVP ${codecs.map((c) => c.payload).join(' ')}`,
    ...codecs.map((c) => `a=rtpmap:${c.payload} ${text(c.name)}/${c.rate}`),
  ];
  return `${lines.join('\r\n')}\r\n`;
}
