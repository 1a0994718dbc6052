/**
 * RFC 3830 §6.10 Security Policy payload (SP).
 *
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Next payload  ! Policy no     ! Prot type     ! Policy param  ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ~ length (cont) ! Policy param                                  ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *  Each Policy param:
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ! Type          ! Length        ! Value                         ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Param meaning per prot type and validation: ../sp.ts.
 */
import { malformed } from '../errors.js';
import { type SpParam, validateSpParams } from '../sp.js';
import { type Reader, type Writer } from '../wire.js';

export interface SpPayload {
  readonly kind: 'sp';
  readonly policyNo: number;
  readonly protType: number;
  readonly params: readonly SpParam[];
}

export function decodeSp(r: Reader): SpPayload {
  const policyNo = r.u8('SP policy no');
  const protType = r.u8('SP prot type');
  const pr = r.sub(r.u16('SP policy param length'), 'SP policy params');
  const params: SpParam[] = [];
  while (pr.remaining > 0) {
    const type = pr.u8('SP param type');
    params.push({ type, value: pr.bytes(pr.u8('SP param length'), 'SP param value') });
  }
  validateSpParams(protType, params);
  return { kind: 'sp', policyNo, protType, params };
}

export function encodeSp(w: Writer, p: SpPayload): void {
  validateSpParams(p.protType, p.params);
  const total = p.params.reduce((n, q) => n + 2 + q.value.length, 0);
  if (p.params.some((q) => q.value.length > 0xff)) throw malformed('SP param value longer than 255 bytes');
  w.u8(p.policyNo, 'policy no').u8(p.protType, 'prot type').u16(total, 'policy param length');
  for (const q of p.params) w.u8(q.type, 'param type').u8(q.value.length, 'param length').bytes(q.value);
}
