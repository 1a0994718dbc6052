/**
 * A small structured logger: one JSON object per line (journald keeps it as
 * is), `{ts, level, msg, ...fields}`.
 *
 * It redacts before writing, whatever the caller passes:
 *  - a field whose name looks like key material (key, psk, secret, password,
 *    tgk, tek, salt, pem; any case, as a suffix: `authKey`, `privateKey`)
 *    becomes "<redacted>";
 *  - byte arrays become "<N bytes>" (never their content);
 *  - errors become {name, message, code?} (no stack, no attached fields);
 *  - nesting deeper than 4 levels and cycles are cut.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  readonly level?: LogLevel;
  /** Where lines go; default process.stderr, batched (`toStderr`). */
  readonly write?: (line: string) => void;
  readonly now?: () => Date;
}

const SECRET_NAME = /(key|keys|psk|secret|password|passwd|tgk|tek|salt|pem)$/i;
const MAX_DEPTH = 4;

export function redact(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint' ? value.toString() : typeof value === 'function' ? '<function>' : value;
  }
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}) };
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return redact((value as { toJSON(): unknown }).toJSON(), depth, seen);
  if (seen.has(value)) return '<cycle>';
  if (depth >= MAX_DEPTH) return '<nested>';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_NAME.test(k) ? '<redacted>' : redact(v, depth + 1, seen);
  return out;
}

let pending: string[] = [];
let flushAtExit = false;
const flush = (): void => {
  if (pending.length === 0) return;
  const text = pending.join('');
  pending = [];
  process.stderr.write(text);
};

/**
 * Lines to stderr, one write per event-loop turn: a request logs a line or
 * two, and each write to a pipe is a syscall (a costly one in a VM).  What is
 * pending is written at exit, also after an uncaught exception; a SIGKILL
 * loses at most the lines of the turn it interrupts.
 */
function toStderr(line: string): void {
  if (pending.push(line) > 1) return;
  setImmediate(flush);
  if (flushAtExit) return;
  flushAtExit = true;
  process.on('exit', flush);
}

export function createLogger(options: LoggerOptions = {}, base: LogFields = {}): Logger {
  const floor = RANK[options.level ?? 'info'];
  const write = options.write ?? toStderr;
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[level] < floor) return;
    const body = redact({ ...base, ...fields }) as LogFields;
    write(`${JSON.stringify({ ts: now().toISOString(), level, msg, ...body })}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = createLogger({ write: () => {} });
