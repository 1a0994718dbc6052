// Taking a kernel module away inside the lab: the lab's modprobe wrapper (which
// is the kernel's modprobe too) refuses every module on MODULE_DENY_LIST as if
// it were not installed.  All kernel test files share one boot, so a module an
// earlier test loaded is unloaded first: the denial holds whatever ran before.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { MODULE_DENY_LIST } from '../../../src/lab/uml.js';

const denied = (): string[] => (existsSync(MODULE_DENY_LIST) ? readFileSync(MODULE_DENY_LIST, 'utf8').split('\n').filter(Boolean) : []);

/** Run `fn` with `module` unloaded and unloadable; afterwards it may load again (on demand). */
export async function withModuleDenied<T>(module: string, fn: () => Promise<T>): Promise<T> {
  writeFileSync(MODULE_DENY_LIST, [...denied(), module].join('\n') + '\n');
  try {
    if (existsSync(`/sys/module/${module}`)) {
      try {
        execFileSync('rmmod', [module], { stdio: 'pipe' });
      } catch (e) {
        const holders = existsSync(`/sys/module/${module}/refcnt`) ? readFileSync(`/sys/module/${module}/refcnt`, 'utf8').trim() : '?';
        throw new Error(`cannot unload ${module} (refcount ${holders}): ${(e as { stderr?: Buffer }).stderr?.toString().trim() ?? e}`);
      }
    }
    if (existsSync(`/sys/module/${module}`)) throw new Error(`${module} is still loaded`);
    return await fn();
  } finally {
    writeFileSync(MODULE_DENY_LIST, denied().filter((m) => m !== module).map((m) => `${m}\n`).join(''));
  }
}
