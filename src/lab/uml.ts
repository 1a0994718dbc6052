/**
 * Boot User-Mode Linux with the host's filesystem as root (hostfs), load the
 * IPsec modules, run one job as root inside it, and hand its exit status and
 * output back.  Nothing is written on the host outside the caller's checkout
 * and one temp dir, which is removed on exit: inside UML, /run, /tmp and
 * /lib/modules are tmpfs mounts that exist only in the guest, and the module
 * tree is linked there rather than into the host's /lib/modules.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabError, type LabJob, type LabResult } from './job.js';

/** Modules the lab kernel needs for ESP, PF_KEY and our topologies. */
export const LAB_MODULES = [
  'xfrm_user', 'af_key', 'esp4', 'esp6', 'xfrm4_tunnel', 'xfrm6_tunnel', 'veth', 'bridge',
  'authenc', 'gcm', 'ccm', 'seqiv', 'echainiv', 'cbc', 'ctr', 'hmac', 'des_generic',
  'chacha20poly1305', 'ghash-generic',
];

const UML_CANDIDATES = ['/usr/bin/linux.uml', '/usr/bin/linux'];
const MODULE_ROOT = '/usr/lib/uml/modules';
const JOB_MARK = '@@sipsec-lab-job@@';
const PROGRESS_MARK = '@@sipsec-lab-progress@@';
const DONE_MARK = '@@sipsec-lab-done@@';

export function findUml(): string {
  const found = UML_CANDIDATES.find((p) => existsSync(p));
  if (!found) {
    throw new LabError(
      'User-Mode Linux is not installed (no /usr/bin/linux.uml): run scripts/setup, ' +
        'or apt-get install user-mode-linux kmod iproute2 iputils-ping',
    );
  }
  if (!existsSync(MODULE_ROOT)) throw new LabError(`UML module tree ${MODULE_ROOT} is missing`);
  return found;
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Modules named in this file (one a line) cannot be loaded in the lab: the
 * modprobe wrapper refuses them as if they were not installed, so a test can
 * take a crypto module away from the kernel (see test/kernel/helpers/modules.ts).
 */
export const MODULE_DENY_LIST = '/run/mods/deny';

/** The guest's modprobe (also the kernel's, /proc/sys/kernel/modprobe): our module tree, minus the deny list. */
function modprobeWrapper(): string {
  return `#!/bin/sh
if [ -s ${MODULE_DENY_LIST} ]; then
  for arg in "$@"; do
    case "$arg" in -*) continue ;; esac
    for m in "$arg" $(/sbin/modprobe -d /run/mods -R -- "$arg" 2>/dev/null); do
      if grep -qxF -- "$m" ${MODULE_DENY_LIST}; then
        echo "modprobe: $arg ($m) is on the lab's deny list" >&2
        exit 1
      fi
    done
  done
fi
exec /sbin/modprobe -d /run/mods "$@"
`;
}

function initScript(job: LabJob, shared: string): string {
  const env = Object.entries({ ...job.env, SIPSEC_LAB_INSIDE: '1', SIPSEC_LAB_KIND: 'uml' })
    .map(([k, v]) => `export ${k}=${shq(v)}`)
    .join('\n');
  return `#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
progress() { echo "${PROGRESS_MARK} $*"; }
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmpfs /run
mkdir -p /run/shared && mount --bind ${shq(shared)} /run/shared
mount -t tmpfs tmpfs /tmp
# The module tree is linked in the guest's tmpfs (never in the host's /lib/modules);
# the kernel's own on-demand loads (crypto templates) go through the same wrapper.
mkdir -p /run/mods/lib/modules
ln -s ${MODULE_ROOT}/$(uname -r) /run/mods/lib/modules/$(uname -r)
cat > /run/modprobe <<'EOF'
${modprobeWrapper()}EOF
chmod 755 /run/modprobe
echo /run/modprobe > /proc/sys/kernel/modprobe
mkdir -p /run/netns /var/run 2>/dev/null
ip link set lo up
progress "loading modules"
for m in ${LAB_MODULES.join(' ')}; do
  /run/modprobe "$m" 2>>/run/shared/modprobe.err || echo "$m" >> /run/shared/modules-missing
done
echo "$(uname -s) $(uname -r) ($(uname -m), User-Mode Linux)" > /run/shared/kernel
progress "running job"
${env}
cd ${shq(job.cwd)}
echo "${JOB_MARK}"
${job.argv.map(shq).join(' ')} </dev/null 2>&1
echo $? > /run/shared/exit
echo "${DONE_MARK}"
poweroff -f
`;
}

/** Boot UML, run the job, and return its status.  Throws LabError if the boot fails. */
export async function runInUml(job: LabJob): Promise<LabResult> {
  const uml = findUml();
  const shared = mkdtempSync(join(tmpdir(), 'sipsec-lab-'));
  const script = join(shared, 'init.sh');
  writeFileSync(script, initScript(job, shared));
  chmodSync(script, 0o755);
  const args = [
    `mem=${job.memMiB ?? 1536}M`, 'rootfstype=hostfs', 'rootflags=/', 'rw', 'quiet',
    `init=${script}`, 'con=null', 'con0=fd:0,fd:1',
  ];
  const child = spawn(uml, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const killAll = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  const onSignal = () => {
    killAll();
    rmSync(shared, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let inJob = false;
  let bootLog = '';
  let pending = '';
  const onData = (chunk: Buffer) => {
    pending += chunk.toString('utf8').replace(/\r/g, '');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      // Markers may follow terminal escapes that the job left on the console line.
      const progress = line.indexOf(PROGRESS_MARK);
      if (progress >= 0) job.onProgress?.(line.slice(progress + PROGRESS_MARK.length + 1));
      else if (line.includes(JOB_MARK)) inJob = true;
      else if (line.includes(DONE_MARK)) inJob = false;
      else if (inJob) job.onOutput?.(line + '\n');
      else bootLog += line + '\n';
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', (c: Buffer) => (bootLog += c.toString('utf8')));
  job.onProgress?.('booting User-Mode Linux');
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killAll();
  }, job.timeoutMs);
  try {
    await new Promise<void>((resolve) => child.on('close', () => resolve()));
    clearTimeout(timer);
    const read = (f: string) => {
      try {
        return readFileSync(join(shared, f), 'utf8').trim();
      } catch {
        return undefined;
      }
    };
    const kernel = read('kernel');
    const exit = read('exit');
    if (timedOut) throw new LabError(`lab timed out after ${job.timeoutMs / 1000} s${kernel ? '' : ' while booting'}`, bootLog);
    if (!kernel) throw new LabError('the lab kernel did not boot', bootLog);
    const missing = read('modules-missing');
    if (missing) throw new LabError(`lab kernel could not load modules: ${missing.split('\n').join(', ')}`, read('modprobe.err'));
    if (exit === undefined) throw new LabError('the lab job did not finish (kernel crash or poweroff?)', bootLog);
    return { exitCode: Number(exit), kernel, kind: 'uml' };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(shared, { recursive: true, force: true });
  }
}
