/** The fuzz targets and where their seed corpora live (test/fuzz/corpus/<target>/). */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fuzzOneProtocol } from '../agent/fuzz-target.js';
import { fuzzOne as fuzzMikey } from '../mikey/fuzz-target.js';
import { fuzzOneMultipart, fuzzOneSipMessage } from '../sip/fuzz-target.js';
import type { FuzzTarget } from './run.js';

export const TARGETS: Record<string, FuzzTarget> = {
  mikey: { name: 'mikey', run: fuzzMikey },
  multipart: { name: 'multipart', run: fuzzOneMultipart },
  sip: { name: 'sip', run: fuzzOneSipMessage },
  protocol: { name: 'protocol', run: fuzzOneProtocol },
};

export const CORPUS_ROOT = resolve(import.meta.dirname, '..', '..', 'test', 'fuzz', 'corpus');

/** Seeds and regression cases: every file of the target's corpus folder, as bytes. */
export function loadCorpus(target: string, root = CORPUS_ROOT): Uint8Array[] {
  const dir = join(root, target);
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.map((n) => new Uint8Array(readFileSync(join(dir, n))));
}
