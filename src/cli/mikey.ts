/**
 * `sipsec mikey decode|offer|answer|verify`: MIKEY messages from and for the
 * command line, for tests against other software.
 *
 *   decode [--psk-file F] [--show-keys] [--json] [--minisip] [--content-type T] [FILE]
 *   offer  --mode psk|dh|dhhmac|pke --id URI --peer-id URI --addr A --spi N --state F
 *          [--suite S] [--psk-file F] [--cert F --key F --ca F --peer-cert F] [--dh-group G]
 *   answer --id URI --peer-id URI --addr A --spi N [--min-suite S] [--psk-file F]
 *          [--cert F --key F --ca F] [--dh-group G ...] [--show-keys] [FILE]
 *   verify --state F [--psk-file F --cert F --key F --ca F] [--show-keys] [FILE]
 *   (every command also takes --config F)
 *
 * Input (FILE or stdin): a base64 MIKEY message, the binary message, a whole
 * SIP message (its body's application/mikey part) or, with --content-type, a
 * bare multipart body.  Output: the message in base64 on the first line of
 * stdout; --show-keys adds the TGK (decode) or the SAs and their keys in hex.
 * Keys are printed only when --show-keys is given.  `offer` writes the
 * initiator state — with its secrets — to --state, created with mode 0600;
 * `verify` reads and deletes it.  The PSK file holds the key in hex or raw.
 * `decode` does not judge freshness (no clock, no replay cache).
 * `--config F` reads options from a YAML map with the same names
 * (`peer-id: sip:bob@example.org`, `show-keys: true`); the command line wins.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ErrNo, MikeyError, errNoName } from '../mikey/errors.js';
import { createOffer, restoreState, serializeState, verifyResponse } from '../mikey/initiator.js';
import { decodeMessage, type DecodedMessage } from '../mikey/message.js';
import { policyForSuite, suiteNamed, suiteOfPolicy } from '../mikey/negotiate.js';
import { policyOf } from '../mikey/modes/common.js';
import { loadPrivateKey, parseCertificate, parseCertificateBundle } from '../mikey/pke.js';
import { ReplayCache } from '../mikey/replay.js';
import { respond } from '../mikey/responder.js';
import { deriveSuiteKeys, type ExchangeResult, type MikeyMode, MIKEY_MODES } from '../mikey/result.js';
import { DataType } from '../mikey/payloads/constants.js';
import { pskMode } from '../mikey/modes/psk.js';
import type { Credentials } from '../mikey/modes/types.js';
import type { OakleyGroup } from '../mikey/dh.js';
import { extractSipsecParts } from '../sip/multipart.js';
import { parseSipMessage } from '../sip/message.js';
import { headerValues } from '../sip/headers.js';

export interface MikeyIo {
  readonly stdin: () => Promise<Uint8Array>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const defaultIo: MikeyIo = {
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Uint8Array.from(Buffer.concat(chunks));
  },
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

const OPTIONS = {
  mode: { type: 'string' },
  id: { type: 'string' },
  'peer-id': { type: 'string' },
  addr: { type: 'string' },
  spi: { type: 'string' },
  suite: { type: 'string' },
  'min-suite': { type: 'string' },
  'psk-file': { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string' },
  'peer-cert': { type: 'string' },
  'dh-group': { type: 'string' },
  state: { type: 'string' },
  'content-type': { type: 'string' },
  'show-keys': { type: 'boolean' },
  json: { type: 'boolean' },
  minisip: { type: 'boolean' },
  config: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

class UsageError extends Error {}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The options of `--config F` under those of the command line. */
function withConfig(v: Values): Values {
  if (!v.config) return v;
  const file: unknown = parseYaml(readFileSync(v.config, 'utf8'));
  if (file === null || typeof file !== 'object' || Array.isArray(file)) throw new UsageError(`${v.config}: expected a map of options`);
  const out: Record<string, string | boolean> = {};
  for (const [k, x] of Object.entries(file)) {
    const type = k === 'config' ? undefined : (OPTIONS as Record<string, { type: string }>)[k]?.type;
    if (!type) throw new UsageError(`${v.config}: unknown option ${k}`);
    if (type === 'boolean' ? typeof x !== 'boolean' : typeof x !== 'string' && typeof x !== 'number') throw new UsageError(`${v.config}: ${k}: expected a ${type}`);
    out[k] = type === 'boolean' ? (x as boolean) : String(x);
  }
  return { ...out, ...Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined)) } as Values;
}

function need(v: Values, k: keyof Values): string {
  const x = v[k];
  if (typeof x !== 'string') throw new UsageError(`--${k} is required`);
  return x;
}

/** PSK file: hex text (whitespace ignored) or raw bytes. */
function readPsk(path: string): Uint8Array {
  const raw = readFileSync(path);
  const text = raw.toString('latin1').replace(/\s+/g, '');
  return /^([0-9a-fA-F]{2})+$/.test(text) ? Uint8Array.from(Buffer.from(text, 'hex')) : Uint8Array.from(raw);
}

function credentialsOf(v: Values): Credentials {
  return {
    ...(v['psk-file'] ? { psk: readPsk(v['psk-file']) } : {}),
    ...(v.cert ? { certificate: parseCertificate(readFileSync(v.cert, 'utf8')) } : {}),
    ...(v.key ? { privateKey: loadPrivateKey(readFileSync(v.key, 'utf8')) } : {}),
    ...(v.ca ? { trustAnchors: parseCertificateBundle(readFileSync(v.ca, 'utf8')) } : {}),
    ...(v['peer-cert'] ? { peerCertificate: parseCertificate(readFileSync(v['peer-cert'], 'utf8')) } : {}),
  };
}

/** Base64 text, a binary message, a SIP message, or (with --content-type) a bare body. */
function mikeyBytesOf(input: Uint8Array, contentType: string | undefined): Uint8Array {
  if (contentType) {
    const m = extractSipsecParts(contentType, input).mikey;
    if (!m) throw new UsageError('the body has no application/mikey part');
    return m;
  }
  if (input[0] === 1) return input;
  const text = Buffer.from(input).toString('latin1');
  if (/^(SIP\/2\.0 |[A-Z]+ \S+ SIP\/2\.0\r?\n)/.test(text)) {
    const sip = parseSipMessage(input);
    const ct = headerValues(sip.headers, 'content-type')[0];
    if (!ct) throw new UsageError('the SIP message has no Content-Type');
    return mikeyBytesOf(sip.body, ct);
  }
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'base64'));
}

async function readInput(positionals: string[], io: MikeyIo, v: Values): Promise<Uint8Array> {
  const file = positionals[0];
  const raw = file && file !== '-' ? Uint8Array.from(readFileSync(file)) : await io.stdin();
  return mikeyBytesOf(raw, v['content-type']);
}

const codecOf = (v: Values) => (v.minisip ? { minisipByteSwap: true } : {});

function saLines(r: ExchangeResult, showKeys: boolean): string {
  return r.sas
    .map((sa) => {
      const keys = showKeys ? ` encKey=${hex(sa.encKey)} authKey=${hex(sa.authKey)}` : '';
      return `CS#${sa.csId} ${sa.direction} spi=0x${sa.spi.toString(16).padStart(8, '0')} ${sa.src} -> ${sa.dst} ${sa.suite}${keys}\n`;
    })
    .join('');
}

// --- decode -----------------------------------------------------------------

/** Field labels as in Wireshark's MIKEY dissector (packet-mikey.c). */
const LABELS: Record<string, string> = {
  version: 'Version', dataType: 'Data Type', v: 'V', prfFunc: 'PRF func', csbId: 'CSB ID', policyNo: 'Policy No', spi: 'SPI',
  spiSrcaddr: 'Src addr', spiDstaddr: 'Dst addr', ssrc: 'SSRC', roc: 'ROC', tsType: 'TS type', tsValue: 'TS value', rand: 'RAND',
  idType: 'ID type', id: 'ID', certType: 'Certificate type', cert: 'Certificate', hashFunc: 'Hash func', hash: 'Hash', encrAlg: 'Encr alg',
  encrData: 'Encr data', macAlg: 'Mac alg', mac: 'MAC', c: 'C', data: 'Data', group: 'DH-Group', value: 'DH-Value', kv: 'KV',
  sType: 'Signature type', signature: 'Signature', protType: 'Protocol type', params: 'Policy param', errNo: 'Error no', type: 'Type',
};
const PAYLOAD_NAMES: Record<string, string> = {
  kemac: 'Key Data Transport (KEMAC)', pke: 'Envelope Data (PKE)', dh: 'DH Data (DH)', sign: 'Signature (SIGN)', t: 'Timestamp (T)', id: 'ID',
  cert: 'Certificate (CERT)', chash: 'Cert Hash (CHASH)', v: 'Ver msg (V)', sp: 'Security Policy (SP)', rand: 'RAND', err: 'Error (ERR)', ext: 'General Extension (EXT)',
};

function fmt(k: string, x: unknown): string {
  if (x instanceof Uint8Array) return k === 'id' ? Buffer.from(x).toString('utf8') : hex(x);
  if (typeof x === 'bigint') return `0x${x.toString(16)}`;
  if (k === 'errNo' && typeof x === 'number') return `${x} (${errNoName(x)})`;
  if (typeof x === 'object' && x !== null) return JSON.stringify(x, (_, y) => (y instanceof Uint8Array ? hex(y) : typeof y === 'bigint' ? y.toString() : y));
  return String(x);
}

function describe(msg: DecodedMessage): string {
  const h = msg.hdr;
  const out = ['Common Header (HDR)'];
  for (const k of ['version', 'dataType', 'v', 'prfFunc', 'csbId'] as const) out.push(`  ${LABELS[k]}: ${fmt(k, h[k])}`);
  out.push(`  #CS: ${h.csIdMap.cs.length}`, `  CS ID map type: ${h.csIdMap.type}`);
  h.csIdMap.cs.forEach((cs, i) => {
    out.push(`  CS #${i + 1}`);
    for (const [k, x] of Object.entries(cs)) out.push(`    ${LABELS[k] ?? k}: ${k === 'spi' ? `0x${(x as number).toString(16).padStart(8, '0')}` : fmt(k, x)}`);
  });
  msg.payloads.forEach((p, i) => {
    const next = msg.payloads[i + 1]?.kind ?? 'Last';
    out.push(`${PAYLOAD_NAMES[p.kind] ?? p.kind}`);
    if (p.kind !== 'sign') out.push(`  Next Payload: ${PAYLOAD_NAMES[next] ?? next}`);
    for (const [k, x] of Object.entries(p)) if (k !== 'kind') out.push(`  ${LABELS[k] ?? k}: ${fmt(k, x)}`);
  });
  return out.join('\n') + '\n';
}

function decodeKeys(bytes: Uint8Array, msg: DecodedMessage, psk: Uint8Array, showKeys: boolean): string {
  if (msg.hdr.dataType !== DataType.PSK_INIT) return 'KEMAC: not a PSK offer; nothing to decrypt\n';
  const { tgk } = pskMode.authenticate(bytes, msg, { psk }, { nowMs: 0, dhGroups: [] });
  let out = 'MAC: verified with the PSK\n';
  if (showKeys) {
    const rand = msg.payloads.find((p) => p.kind === 'rand');
    out += `TGK: ${hex(tgk)}\n`;
    const suite = suiteOfPolicy(policyOf(msg)).suite;
    if (rand?.kind === 'rand') {
      msg.hdr.csIdMap.cs.forEach((_, i) => {
        const k = deriveSuiteKeys(suite, tgk, i + 1, msg.hdr.csbId, rand.rand);
        out += `CS#${i + 1} ${suite.name} ESP encr: ${hex(k.encKey)} auth: ${hex(k.authKey)}\n`;
        k.encKey.fill(0);
        k.authKey.fill(0);
      });
    }
  }
  tgk.fill(0);
  return out;
}

// --- commands -----------------------------------------------------------------

async function run(cmd: string, v: Values, positionals: string[], io: MikeyIo): Promise<number> {
  const codec = codecOf(v);
  const now = Date.now;
  switch (cmd) {
    case 'decode': {
      const bytes = await readInput(positionals, io, v);
      const msg = decodeMessage(bytes, codec);
      if (v.json) io.stdout(JSON.stringify(msg, (_, y) => (y instanceof Uint8Array ? hex(y) : typeof y === 'bigint' ? y.toString() : y), 2) + '\n');
      else io.stdout(describe(msg));
      if (v['psk-file']) io.stdout(decodeKeys(bytes, msg, readPsk(v['psk-file']), v['show-keys'] === true));
      return 0;
    }
    case 'offer': {
      const mode = need(v, 'mode') as MikeyMode;
      if (!MIKEY_MODES.includes(mode)) throw new UsageError(`--mode must be one of ${MIKEY_MODES.join(', ')}`);
      const { message, state } = createOffer({
        mode,
        localId: need(v, 'id'),
        peerId: need(v, 'peer-id'),
        localAddr: need(v, 'addr'),
        inboundSpi: Number(need(v, 'spi')),
        policy: policyForSuite(suiteNamed(v.suite ?? 'aes-cbc-128-hmac-sha256')),
        credentials: credentialsOf(v),
        ...(v['dh-group'] ? { dhGroup: Number(v['dh-group']) as OakleyGroup } : {}),
        codec,
      });
      writeFileSync(need(v, 'state'), serializeState(state), { mode: 0o600, flag: 'w' });
      state.wipe();
      io.stdout(Buffer.from(message).toString('base64') + '\n');
      return 0;
    }
    case 'answer': {
      const spi = Number(need(v, 'spi'));
      const out = await respond(await readInput(positionals, io, v), {
        localId: need(v, 'id'),
        peerId: need(v, 'peer-id'),
        localAddr: need(v, 'addr'),
        allocSpi: () => spi,
        credentials: credentialsOf(v),
        replayCache: new ReplayCache(),
        dhGroups: [1, 2, 5, 14],
        ...(v['min-suite'] ? { minSuite: suiteNamed(v['min-suite']).name } : {}),
        codec,
      });
      if (!out.ok) {
        io.stdout(Buffer.from(out.errorResponse).toString('base64') + '\n');
        io.stderr(`${out.error.message}\n`);
        return 1;
      }
      io.stdout(Buffer.from(out.response).toString('base64') + '\n' + saLines(out.result, v['show-keys'] === true));
      out.result.wipe();
      return 0;
    }
    case 'verify': {
      const path = need(v, 'state');
      const state = restoreState(readFileSync(path, 'utf8'));
      rmSync(path, { force: true });
      const result = verifyResponse(state, await readInput(positionals, io, v), { credentials: credentialsOf(v), now });
      io.stdout(saLines(result, v['show-keys'] === true));
      result.wipe();
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  }
}

const USAGE = 'usage: sipsec mikey decode|offer|answer|verify [options] [FILE]  (see src/cli/mikey.ts)\n';

export async function runMikey(argv: string[], io: MikeyIo = defaultIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    io.stderr(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const [cmd, ...rest] = parsed.positionals;
  if (!cmd) {
    io.stderr(USAGE);
    return 2;
  }
  try {
    return await run(cmd, withConfig(parsed.values), rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`${e.message}\n${USAGE}`);
      return 2;
    }
    const err = e instanceof MikeyError ? e : new MikeyError(ErrNo.UNSPECIFIED, e instanceof Error ? e.message : 'failed');
    io.stderr(`${err.message}\n`);
    return 1;
  }
}
