/** What the lab runs, and what it hands back.  Shared by the UML and native runners. */
export interface LabJob {
  /** Command and arguments, run as root in the lab's initial namespace. */
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  memMiB?: number;
  onProgress?: (what: string) => void;
  onOutput?: (text: string) => void;
}

export interface LabResult {
  exitCode: number;
  /** `uname` of the kernel the job ran on, so logs show where kernel tests ran. */
  kernel: string;
  kind: LabKind;
}

export type LabKind = 'uml' | 'native';

/** The lab could not run the job at all (as opposed to the job failing). */
export class LabError extends Error {
  override readonly name = 'LabError';
  constructor(
    message: string,
    readonly log?: string,
  ) {
    super(message);
  }
}
