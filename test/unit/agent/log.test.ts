import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/agent/log.js';
import { Secret } from '../../../src/agent/secret.js';

describe('log', () => {
  it('writes one JSON line per record, redacting key material', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => void lines.push(l), now: () => new Date(0) }).child({ conn: 3, psk: 'bound' });
    const err = Object.assign(new Error('boom'), { code: 'EPERM', key: 'leak' });
    log.info('installed', { spi: 7, encKey: 'aabbcc', nested: { psk: 'x', authKey: [1] }, buf: Buffer.from('secret!'), secret: new Secret(new Uint8Array(4)), err });
    log.debug('dropped');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      ts: '1970-01-01T00:00:00.000Z',
      level: 'info',
      msg: 'installed',
      conn: 3,
      psk: '<redacted>',
      spi: 7,
      encKey: '<redacted>',
      nested: { psk: '<redacted>', authKey: '<redacted>' },
      buf: '<7 bytes>',
      secret: '<redacted>',
      err: { name: 'Error', message: 'boom', code: 'EPERM' },
    });
  });
});
