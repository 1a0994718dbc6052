/** Test fixture: minisip's INVITE from seed 003 §5.2 (not a test file itself). */

// Seed 003 §5.2, minisip's INVITE body as printed in the thesis, with CRLF
// line ends.  The transcription damaged the base64 (415 chars, not a
// multiple of 4; uneven line lengths); RFC 2045 decoding of the text as
// printed (414 data chars + one "=") yields 103 full groups + 1 byte = 310.
export const MINISIP_B64 = [
  'AQAfGd+LoOoCBwAhXlqzAAAAALJ9EMAAAAAALJ9EMAAAAAACgDFxW0OT9+PRwsABwAVAAEDAQEBAgEAAw',
  'EDBAEYBQEDBgEQARDy6e7T10Z+aPj5NTNI9hFzAAAAxHbDvNnT1S9tBbcF4e9kx8lexfu0lCU7Zgf8t4wmQq+1rDq8cYcAz',
  'O2YMdmBfNSfU9XTyOUxMPEudWwLBT22WW6rBNfmWnOil0KGE06pbDEKme84jgSHwV8Aj6nKUJ+3ZW9b4Mx1+qZgErl',
  'vU1CdF6Ove1wbziQszV3QfvzqDs3l6OCmTZtirRuJfY+m8vobF38q4XWaDINnJhEBZi00hVMvpVL35aR7YZMRvzanuvrW1gxB',
  'oVVqICoS5otKgrdqLG3FwpsA+OGp7kqm2tWQnL3WALOSH8PsNz8=',
];
export const MINISIP_SDP = [
  'v=0',
  'o=- 3344 3344 IN IP4 192.16.125.178',
  's=Minisip Session',
  'c=IN IP4 192.16.125.178',
  't=0 0',
  'm=audio 33730 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000/1',
];
export const MINISIP_BODY_LINES = [
  '--boun=_dry',
  'Content-type: application/mikey',
  '',
  ...MINISIP_B64,
  '',
  '--boun=_dry',
  'Content-type: application/sdp',
  '',
  ...MINISIP_SDP,
  '',
  '--boun=_dry--',
  '',
];

/** The INVITE's header lines as printed in seed 003 §5.2, Content-Length excepted. */
export const MINISIP_HEADER_LINES = [
  'INVITE sip:orrblad@ssvl.kth.se;user=phone SIP/2.0',
  'From: <sip:joachim@ssvl.kth.se;user=phone>;tag=952824928',
  'To: <sip:orrblad@ssvl.kth.se;user=phone>',
  'Call-ID: 196120334@192.16.125.178',
  'CSeq: 401 INVITE',
  'Contact: <sip:joachim@192.16.125.178:5050;user=phone;transport=UDP>;expires=1000',
  'User-Agent: Minisip',
  'Content-Type: multipart/mixed; boundary=boun=_dry',
  'Via: SIP/2.0/UDP 192.16.125.178:5050;branch=z9hG4bK697135402',
];

/**
 * The whole INVITE with CRLF line ends.  The seed prints Content-Length: 675;
 * its transcription changed the body, so the length here is the real length
 * of the reconstructed body.
 */
export function minisipInvite(): Uint8Array {
  const body = MINISIP_BODY_LINES.join('\r\n');
  const head = [...MINISIP_HEADER_LINES, `Content-Length: ${Buffer.byteLength(body, 'latin1')}`].join('\r\n');
  return new Uint8Array(Buffer.from(`${head}\r\n\r\n${body}`, 'latin1'));
}
