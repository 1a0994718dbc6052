/**
 * Loading the sipsecd configuration: YAML text → validated `SipsecConfig`.
 *
 * Every problem is reported, not only the first: YAML syntax errors, every
 * zod schema issue, unknown users/groups, and unreadable or too-open
 * credential files.  Each issue carries the YAML path and the line:column of
 * the node it is about (zod paths are mapped to YAML node ranges with yaml's
 * LineCounter); a missing key points at its parent mapping.
 *
 * Credential files are read here, once, at start-up (before the daemon drops
 * privileges): PSKs and private keys become `Secret`s.  A PSK file or a
 * private-key file that group or others may access (mode & 077 ≠ 0) is
 * refused, as is an inline PSK in a config file others may read.
 */
import { readFileSync, statSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { SuiteName } from '../kernel/algorithms.js';
import { suitesAtLeast } from '../kernel/algorithms.js';
import { AccountDb } from './accounts.js';
import { configSchema, type ConfigFile, type PeerFileEntry, type Principal } from './config-schema.js';
import { Secret } from './secret.js';

export { DEFAULT_LINGER_SECONDS, DEFAULT_SOCKET_PATH, DEFAULT_STATE_DIR, DH_GROUPS } from './config-schema.js';

export interface ConfigIssue {
  /** Dotted YAML path, e.g. `peers[0].psk.file`; empty for the document itself. */
  readonly path: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  readonly message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(`${file}: ${issues.length} configuration error${issues.length === 1 ? '' : 's'}\n${formatConfigErrors(file, issues)}`);
  }
}

/** One line per issue, `file:line:column: path: message` (the format compilers use, so editors can jump). */
export function formatConfigErrors(file: string, issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `${file}:${i.line}:${i.column}: ${i.path === '' ? '' : `${i.path}: `}${i.message}`).join('\n');
}

export interface PemFile {
  readonly path: string;
  readonly pem: string;
}

export interface PeerConfig {
  /** `sip:bob@example.org` or `*@example.org`. */
  readonly match: string;
  readonly mode: PeerFileEntry['mode'];
  readonly psk?: Secret;
  readonly certificate?: PemFile;
  /** PEM text of our private key. */
  readonly privateKey?: { readonly path: string; readonly pem: Secret };
  readonly peerCertificate?: PemFile;
  readonly trustAnchors: readonly PemFile[];
  /** dh and dhhmac modes. */
  readonly dh?: { readonly group: 1 | 2 | 5 | 14 };
}

export interface SipsecConfig {
  /** The file it was loaded from. */
  readonly source: string;
  readonly identities: ConfigFile['identities'];
  readonly peers: readonly PeerConfig[];
  readonly algorithms: { readonly suites: readonly SuiteName[]; readonly minimum: SuiteName };
  readonly protection: ConfigFile['protection'];
  readonly lifetimes: ConfigFile['lifetimes'];
  /** Seconds SAs stay after the last call with a peer. */
  readonly linger: number;
  readonly replay: ConfigFile['replay'];
  /** Resolved to numeric ids. */
  readonly access: { readonly uids: readonly number[]; readonly gids: readonly number[]; readonly adminGid?: number };
  readonly socket: { readonly path: string; readonly gid?: number; readonly mode: number; readonly maxConnections: number };
  readonly stateDir: string;
  readonly kernel: ConfigFile['kernel'];
  readonly nat: ConfigFile['nat'];
  /** The user (and its groups) to drop to after start-up, if configured. */
  readonly runAs?: { readonly user: string; readonly uid: number; readonly gid: number; readonly groups: readonly number[] };
}

export interface LoadOptions {
  /** Account database for user/group names; default /etc/passwd and /etc/group. */
  readonly accounts?: AccountDb;
}

/** Read, validate and resolve a config file.  Throws `ConfigError` listing every issue. */
export function loadConfig(path: string, options: LoadOptions = {}): SipsecConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, [{ path: '', line: 1, column: 1, message: `cannot read: ${errnoText(e)}` }]);
  }
  return parseConfig(text, path, options);
}

/** Like `loadConfig`, from text already read; `source` names the file (for messages and its mode check). */
export function parseConfig(text: string, source: string, options: LoadOptions = {}): SipsecConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => {
        const at = lineCounter.linePos(e.pos[0]);
        return { path: '', line: at.line, column: at.col, message: `YAML: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const locator = new Locator(doc, lineCounter);
  // toJS throws a raw ReferenceError on an unresolved alias (an unquoted `*@example.org`) or an alias bomb.
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError(source, [{ path: '', line: 1, column: 1, message: `YAML: ${(e as Error).message} (quote values that start with * or &)` }]);
  }
  const parsed = configSchema.safeParse(value ?? {});
  if (!parsed.success) {
    throw new ConfigError(source, sortIssues(parsed.error.issues.flatMap((i) => locator.zodIssue(i))));
  }
  const resolver = new Resolver(parsed.data, source, locator, options.accounts ?? AccountDb.load());
  const config = resolver.resolve();
  if (resolver.issues.length > 0) {
    for (const p of config.peers) {
      p.psk?.wipe();
      p.privateKey?.pem.wipe();
    }
    throw new ConfigError(source, sortIssues(resolver.issues));
  }
  return config;
}

/**
 * The peer entry for a remote SIP URI: an exact URI entry first, then a
 * `*@domain` entry.  The host is compared case-insensitively, the user part
 * exactly (RFC 3261 §19.1.4); sip: and sips: match each other; URI
 * parameters, headers and a port are ignored.
 */
export function peerFor(config: SipsecConfig, uri: string): PeerConfig | undefined {
  const want = splitUri(uri);
  if (!want) return undefined;
  const exact = config.peers.find((p) => {
    const have = splitUri(p.match);
    return have !== undefined && have.user === want.user && have.host === want.host;
  });
  return exact ?? config.peers.find((p) => p.match.startsWith('*@') && p.match.slice(2).toLowerCase() === want.host);
}

function splitUri(uri: string): { user: string; host: string } | undefined {
  const m = /^<?sips?:([^@;?>]+)@([^;?:>]+)/i.exec(uri.trim());
  return m ? { user: m[1]!, host: m[2]!.toLowerCase() } : undefined;
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.column - b.column);
}

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code ?? (e instanceof Error ? e.message : String(e));
}

type PathSeg = string | number;

function pathText(path: readonly PathSeg[]): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/** Maps a path inside the parsed document to the line:column of its YAML node. */
class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /** Position of the deepest node on `path` that exists (a missing key → its parent mapping); `key` → that key itself. */
  at(path: readonly PathSeg[], key?: string): ConfigIssue & { message: '' } {
    const segs = key === undefined ? path : [...path, key];
    let node: unknown = this.doc.contents;
    let best: YamlNode | null = this.doc.contents;
    for (const [i, seg] of segs.entries()) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
        if (!pair) break;
        const wantKey = key !== undefined && i === segs.length - 1;
        best = (wantKey ? pair.key : (pair.value ?? pair.key)) as YamlNode;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (!item) break;
        best = item as YamlNode;
        node = item;
      } else break;
    }
    const offset = best?.range?.[0] ?? 0;
    const pos = this.lines.linePos(offset);
    return { path: pathText(segs), line: pos.line, column: pos.col, message: '' };
  }

  zodIssue(issue: { code: string; path: PropertyKey[]; message: string; keys?: string[] }): ConfigIssue[] {
    const path = issue.path.filter((s): s is PathSeg => typeof s === 'string' || typeof s === 'number');
    if (issue.code === 'unrecognized_keys' && issue.keys) {
      return issue.keys.map((k) => ({ ...this.at(path, k), message: `unknown key "${k}"` }));
    }
    const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
    const last = path[path.length - 1];
    return [{ ...this.at(path), message: missing ? `missing required key "${String(last)}"` : issue.message }];
  }
}

type PskEntry = Extract<PeerFileEntry, { mode: 'psk' }>['psk'];
/** Every field any mode may have (the schema already checked which one needs which). */
interface AnyPeerEntry {
  readonly match: string;
  readonly mode: PeerFileEntry['mode'];
  readonly psk?: PskEntry;
  readonly certificate?: string;
  readonly privateKey?: string;
  readonly peerCertificate?: string;
  readonly trustAnchors?: readonly string[];
  readonly dh?: { readonly group: 1 | 2 | 5 | 14 };
}

/** Second pass over a schema-valid config: names → ids, credential files → bytes.  Collects issues. */
class Resolver {
  readonly issues: ConfigIssue[] = [];

  constructor(
    private readonly file: ConfigFile,
    private readonly source: string,
    private readonly locator: Locator,
    private readonly accounts: AccountDb,
  ) {}

  private fail(path: readonly PathSeg[], message: string): undefined {
    this.issues.push({ ...this.locator.at(path), message });
    return undefined;
  }

  resolve(): SipsecConfig {
    const f = this.file;
    const uids = f.access.users.map((u, i) => this.uid(u, ['access', 'users', i])).filter((x): x is number => x !== undefined);
    const gids = f.access.groups.map((g, i) => this.gid(g, ['access', 'groups', i])).filter((x): x is number => x !== undefined);
    const adminGid = f.access.adminGroup === undefined ? undefined : this.gid(f.access.adminGroup, ['access', 'adminGroup']);
    const socketGid = f.socket.group === undefined ? undefined : this.gid(f.socket.group, ['socket', 'group']);
    return {
      source: this.source,
      identities: f.identities,
      peers: f.peers.map((p, i) => this.peer(p, i)),
      algorithms: { minimum: f.algorithms.minimum, suites: f.algorithms.suites ?? suitesAtLeast(f.algorithms.minimum).map((s) => s.name) },
      protection: f.protection,
      lifetimes: f.lifetimes,
      linger: f.linger,
      replay: f.replay,
      access: { uids, gids, ...(adminGid !== undefined ? { adminGid } : {}) },
      socket: { path: f.socket.path, mode: f.socket.mode, maxConnections: f.socket.maxConnections, ...(socketGid !== undefined ? { gid: socketGid } : {}) },
      stateDir: f.stateDir,
      kernel: f.kernel,
      nat: f.nat,
      ...(f.runAs ? this.runAs(f.runAs) : {}),
    };
  }

  private uid(who: Principal, path: PathSeg[]): number | undefined {
    return this.accounts.uid(who) ?? this.fail(path, `no user "${who}" in /etc/passwd`);
  }

  private gid(group: Principal, path: PathSeg[]): number | undefined {
    return this.accounts.gid(group) ?? this.fail(path, `no group "${group}" in /etc/group`);
  }

  private runAs(r: NonNullable<ConfigFile['runAs']>): Pick<SipsecConfig, 'runAs'> {
    const user = this.accounts.user(r.user);
    if (!user) return this.fail(['runAs', 'user'], `no user "${r.user}" in /etc/passwd`) ?? {};
    const gid = r.group === undefined ? user.gid : this.gid(r.group, ['runAs', 'group']);
    if (gid === undefined) return {};
    return { runAs: { user: user.name, uid: user.uid, gid, groups: this.accounts.supplementaryGids(user.name) } };
  }

  private peer(entry: PeerFileEntry, i: number): PeerConfig {
    const p: AnyPeerEntry = entry;
    const at = (...rest: PathSeg[]): PathSeg[] => ['peers', i, ...rest];
    const privateKey = p.privateKey === undefined ? undefined : this.secretFile(p.privateKey, at('privateKey'), 'private key');
    const out: PeerConfig = {
      match: p.match,
      mode: p.mode,
      ...(p.dh ? { dh: { group: p.dh.group } } : {}),
      trustAnchors: (p.trustAnchors ?? []).map((a, j) => this.certificate(a, at('trustAnchors', j))).filter((x): x is PemFile => x !== undefined),
      ...(p.psk ? { psk: this.psk(p.psk, at('psk')) } : {}),
      ...(p.certificate ? { certificate: this.certificate(p.certificate, at('certificate')) } : {}),
      ...(p.peerCertificate ? { peerCertificate: this.certificate(p.peerCertificate, at('peerCertificate')) } : {}),
      ...(privateKey ? { privateKey: { path: p.privateKey!, pem: privateKey } } : {}),
    };
    if (privateKey && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(Buffer.from(privateKey.bytes()).toString('latin1'))) {
      this.fail(at('privateKey'), `${p.privateKey} holds no PEM private key`);
    }
    return out;
  }

  private psk(psk: PskEntry, path: PathSeg[]): Secret | undefined {
    let bytes: Uint8Array;
    if ('hex' in psk) {
      const mode = this.modeOf(this.source);
      if (mode !== undefined && (mode & 0o077) !== 0) {
        return this.fail([...path, 'hex'], `inline PSK in ${this.source}, which group or others may read (mode ${octal(mode)}): chmod 600 it or use psk.file`);
      }
      bytes = Buffer.from(psk.hex, 'hex');
    } else {
      const raw = this.secretFile(psk.file, [...path, 'file'], 'PSK');
      if (!raw) return undefined;
      if (psk.format === 'raw') bytes = raw.bytes();
      else {
        const text = Buffer.from(raw.bytes()).toString('latin1').replace(/\s+/g, '');
        raw.wipe();
        if (!/^([0-9a-f]{2})+$/i.test(text)) return this.fail([...path, 'file'], `${psk.file} does not hold an even number of hex digits (set format: raw for a binary key)`);
        bytes = Buffer.from(text, 'hex');
      }
    }
    if (bytes.length < 16) {
      bytes.fill(0);
      return this.fail(path, `PSK has ${bytes.length} bytes; at least 16 are required`);
    }
    return new Secret(bytes);
  }

  private modeOf(file: string): number | undefined {
    try {
      return statSync(file).mode & 0o7777;
    } catch {
      return undefined;
    }
  }

  /** Read a file that holds a secret: it must be a regular file no one but its owner may access. */
  private secretFile(file: string, path: PathSeg[], what: string): Secret | undefined {
    let st;
    try {
      st = statSync(file);
    } catch (e) {
      return this.fail(path, `cannot read ${what} file ${file}: ${errnoText(e)}`);
    }
    if (!st.isFile()) return this.fail(path, `${what} file ${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      return this.fail(path, `${what} file ${file} is accessible by group or others (mode ${octal(st.mode & 0o7777)}): chmod 600 it`);
    }
    try {
      return new Secret(readFileSync(file));
    } catch (e) {
      return this.fail(path, `cannot read ${what} file ${file}: ${errnoText(e)}`);
    }
  }

  private certificate(file: string, path: PathSeg[]): PemFile | undefined {
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (e) {
      return this.fail(path, `cannot read certificate ${file}: ${errnoText(e)}`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) return this.fail(path, `${file} holds no PEM certificate`);
    return { path: file, pem };
  }
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}
