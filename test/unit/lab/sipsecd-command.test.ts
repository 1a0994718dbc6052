import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SIPSECD_BIN, SIPSECD_UNIT, sipsecdCommand } from '../../../src/lab/sipsecd-command.js';

describe('sipsecdCommand', () => {
  it('starts sipsecd with the node flags of bin/sipsecd.js\'s shebang and the environment of its systemd unit, with this node', () => {
    const { argv, env } = sipsecdCommand(['--config', 'x.yaml']);
    const shebang = readFileSync(SIPSECD_BIN, 'utf8').split('\n', 1)[0]!;
    expect(argv[0]).toBe(process.execPath);
    expect(argv.slice(-3)).toEqual([SIPSECD_BIN, '--config', 'x.yaml']);
    const flags = argv.slice(1, -3);
    expect(flags.length).toBeGreaterThan(0);
    for (const f of flags) expect(shebang).toContain(` ${f}`);
    expect(Object.keys(env).length).toBeGreaterThan(0);
    const unit = readFileSync(SIPSECD_UNIT, 'utf8');
    for (const [k, v] of Object.entries(env)) expect(unit).toMatch(new RegExp(`^Environment=.*\\b${k}=${v}\\b`, 'm'));
    // Kernels before 5.1 cut a shebang at 127 bytes.
    expect(Buffer.byteLength(shebang)).toBeLessThan(127);
  });
});
