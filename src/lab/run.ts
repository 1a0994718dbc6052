/** Pick the lab (SIPSEC_LAB=uml|native, default: native where the host has ESP, else UML) and run a job. */
import { LabError, type LabJob, type LabKind, type LabResult } from './job.js';
import { hostHasEsp, runNative } from './native.js';
import { runInUml } from './uml.js';

export function chooseLab(env: NodeJS.ProcessEnv = process.env): LabKind {
  const asked = env.SIPSEC_LAB;
  if (asked === 'uml' || asked === 'native') return asked;
  if (asked) throw new LabError(`SIPSEC_LAB must be "uml" or "native", not "${asked}"`);
  return hostHasEsp() ? 'native' : 'uml';
}

export function runLab(job: LabJob, kind: LabKind = chooseLab()): Promise<LabResult> {
  return kind === 'native' ? runNative(job) : runInUml(job);
}
