import { describe, expect, it } from 'vitest';
import { LabError } from '../../../src/lab/job.js';
import { chooseLab } from '../../../src/lab/run.js';

describe('chooseLab', () => {
  it('honours SIPSEC_LAB', () => {
    expect(chooseLab({ SIPSEC_LAB: 'uml' })).toBe('uml');
    expect(chooseLab({ SIPSEC_LAB: 'native' })).toBe('native');
  });
  it('rejects an unknown lab with a typed error', () => {
    expect(() => chooseLab({ SIPSEC_LAB: 'qemu' })).toThrow(LabError);
  });
  it('detects that this host kernel has no ESP and picks UML', () => {
    // REFERENCE.md §1: the project's machines have XFRM but no ESP.
    expect(chooseLab({})).toBe('uml');
  });
});
