/** The mode handlers by name (initiator.ts, responder.ts dispatch through this). */
import type { MikeyMode } from '../result.js';
import { dhMode } from './dh.js';
import { dhhmacMode } from './dhhmac.js';
import { pkeMode } from './pke.js';
import { pskMode } from './psk.js';
import type { ModeHandler } from './types.js';

export const MODE_HANDLERS: Readonly<Record<MikeyMode, ModeHandler>> = { psk: pskMode, pke: pkeMode, dh: dhMode, dhhmac: dhhmacMode };

/** The mode of an initiator's data type, or undefined. */
export function modeOfInitDataType(dataType: number): MikeyMode | undefined {
  return (Object.keys(MODE_HANDLERS) as MikeyMode[]).find((m) => MODE_HANDLERS[m].initDataType === dataType);
}
