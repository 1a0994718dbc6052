/**
 * The native lab: where the host kernel itself has ESP and we are root, the
 * kernel suites run directly (each test builds its own namespaces).  Whether
 * it applies is probed in a throw-away network namespace, so the probe never
 * touches the host's SAD.
 */
import { spawn, spawnSync } from 'node:child_process';
import { LabError, type LabJob, type LabResult } from './job.js';

const PROBE = [
  'unshare', '--net', 'ip', 'xfrm', 'state', 'add', 'src', '192.0.2.1', 'dst', '192.0.2.2',
  'proto', 'esp', 'spi', '0x1000', 'mode', 'transport',
  'enc', 'cbc(aes)', '0x' + '00'.repeat(16), 'auth-trunc', 'hmac(sha256)', '0x' + '00'.repeat(32), '128',
];

export function hostHasEsp(): boolean {
  if (process.getuid?.() !== 0) return false;
  const r = spawnSync(PROBE[0]!, PROBE.slice(1), { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0;
}

export async function runNative(job: LabJob): Promise<LabResult> {
  if (!hostHasEsp()) throw new LabError('SIPSEC_LAB=native needs root and a host kernel with ESP (esp4/esp6)');
  const kernel = spawnSync('uname', ['-srm'], { encoding: 'utf8' }).stdout.trim() + ' (host, native lab)';
  const child = spawn(job.argv[0]!, job.argv.slice(1), {
    cwd: job.cwd,
    env: { ...process.env, ...job.env, SIPSEC_LAB_INSIDE: '1', SIPSEC_LAB_KIND: 'native' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (c: Buffer) => job.onOutput?.(c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => job.onOutput?.(c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), job.timeoutMs);
  const exitCode = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  clearTimeout(timer);
  return { exitCode, kernel, kind: 'native' };
}
