/**
 * IPsec policy negotiation for MIKEY (seed 003 §5.1.2): the SP payload's
 * typed policy (sp.ts `IpsecPolicy`) <-> the algorithm suites of
 * src/kernel/algorithms.ts, and the responder's "at least this strong" rule.
 *
 *   SP param            | meaning here
 *   --------------------+------------------------------------------------
 *   SATYPE (0)          | must be ESP (RFC 2367 SADB_SATYPE_ESP = 3)
 *   MODE (1)            | 0 any / 1 transport -> 'transport', 2 -> 'tunnel'
 *   EALG/EKEYL/AALG (3-5)| together name one suite (suiteBySadb)
 *   AKEYL (6)           | must equal the suite's auth key length (if sent)
 *
 * Failures are MikeyError(INVALID_SPPAR): RFC 3830 §6.12 "SP parameter not
 * supported" is what the responder answers for a policy it will not run,
 * including one below its configured minimum strength.
 */
import { type AlgorithmSuite, type SuiteName, suiteByName, suiteBySadb } from '../kernel/algorithms.js';
import type { IpsecMode } from '../kernel/types.js';
import { ErrNo, MikeyError } from './errors.js';
import type { IpsecPolicy } from './sp.js';

/** RFC 2367 SADB_SATYPE_ESP, the SP SATYPE value of ESP. */
export const SATYPE_ESP = 3;
/** RFC 2367 IPSEC_MODE_ANY / TRANSPORT / TUNNEL. */
export const SpMode = { ANY: 0, TRANSPORT: 1, TUNNEL: 2 } as const;

const spError = (detail: string): MikeyError => new MikeyError(ErrNo.INVALID_SPPAR, detail);

/** A name from algorithms.ts as a suite; an unknown name is INVALID_SPPAR (not a kernel error). */
export function suiteNamed(name: string): AlgorithmSuite {
  try {
    return suiteByName(name);
  } catch {
    throw spError(`unknown algorithm suite ${JSON.stringify(name)}`);
  }
}

/** The policy an initiator offers for `suite`: ESP, transport, the suite's numbers and key lengths. */
export function policyForSuite(suite: AlgorithmSuite, extra: Partial<IpsecPolicy> = {}): IpsecPolicy {
  return {
    satype: SATYPE_ESP,
    mode: SpMode.TRANSPORT,
    ealg: suite.sadbEalg,
    ekeyl: suite.encKeyBytes,
    aalg: suite.sadbAalg,
    akeyl: suite.authKeyBytes,
    ...extra,
  };
}

export interface NegotiatedPolicy {
  readonly suite: AlgorithmSuite;
  readonly mode: IpsecMode;
}

/** The suite and mode a received policy asks for; MikeyError(INVALID_SPPAR) if we cannot run it. */
export function suiteOfPolicy(p: IpsecPolicy): NegotiatedPolicy {
  if (p.satype !== undefined && p.satype !== SATYPE_ESP) throw spError(`SA type ${p.satype} not supported (ESP only)`);
  if (p.mode !== undefined && p.mode !== SpMode.ANY && p.mode !== SpMode.TRANSPORT && p.mode !== SpMode.TUNNEL) {
    throw spError(`IPsec mode ${p.mode} not supported`);
  }
  if (p.ealg === undefined || p.aalg === undefined) throw spError('policy lacks EALG or AALG');
  const suite = p.ekeyl !== undefined ? suiteBySadb(p.ealg, p.ekeyl, p.aalg) : suiteWithoutKeyLength(p.ealg, p.aalg);
  if (!suite) throw spError(`no suite for EALG ${p.ealg} EKEYL ${p.ekeyl ?? '-'} AALG ${p.aalg}`);
  if (p.akeyl !== undefined && p.akeyl !== suite.authKeyBytes) {
    throw spError(`AKEYL ${p.akeyl} does not match ${suite.name} (${suite.authKeyBytes} bytes)`);
  }
  return { suite, mode: p.mode === SpMode.TUNNEL ? 'tunnel' : 'transport' };
}

/** Without EKEYL only an unambiguous EALG/AALG pair names a suite. */
function suiteWithoutKeyLength(ealg: number, aalg: number): AlgorithmSuite | undefined {
  const lens = [0, 16, 20, 24, 32, 36].map((l) => suiteBySadb(ealg, l, aalg)).filter((s) => s !== undefined);
  const unique = [...new Set(lens)];
  return unique.length === 1 ? unique[0] : undefined;
}

/** Responder rule: the offered suite ranks at least as high as `minSuite`; else INVALID_SPPAR. */
export function checkMinimumStrength(suite: AlgorithmSuite, minSuite: SuiteName | undefined): void {
  if (minSuite === undefined) return;
  const floor = suiteNamed(minSuite);
  if (suite.strength < floor.strength) {
    throw spError(`suite ${suite.name} is weaker than the configured minimum ${floor.name}`);
  }
}
