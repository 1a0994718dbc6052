/** Pick the lab (SIPSEC_LAB=uml|native, default: native where the host has ESP, else UML) and run a job. */
import { LabError, type LabJob, type LabKind, type LabResult } from './job.js';
import { progressReporter } from './progress.js';
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

/**
 * Run a command-line job in the lab: progress while booting, the job's output
 * through `onOutput` (default stdout; it may route lines to the progress line),
 * the lab kernel printed at the end.  Returns the job's exit status, or 3 when
 * the lab itself failed (with the reason and the end of the boot log).
 */
export async function runLabCommand(
  job: Omit<LabJob, 'onProgress' | 'onOutput' | 'timeoutMs'> & {
    defaultTimeoutSeconds: number;
    onOutput?: (text: string, progress: (what: string) => void) => void;
  },
): Promise<number> {
  const progress = progressReporter();
  try {
    const r = await runLab({
      ...job,
      timeoutMs: Number(process.env.SIPSEC_LAB_TIMEOUT ?? job.defaultTimeoutSeconds) * 1000,
      onProgress: progress.step,
      onOutput: (t) => (job.onOutput ? job.onOutput(t, progress.step) : process.stdout.write(t)),
    });
    progress.done();
    process.stdout.write(`lab kernel: ${r.kernel}\n`);
    return r.exitCode;
  } catch (e) {
    progress.done();
    if (e instanceof LabError) {
      process.stderr.write(`lab failed: ${e.message}\n${e.log ? e.log.split('\n').slice(-30).join('\n') + '\n' : ''}`);
      return 3;
    }
    throw e;
  }
}
