/**
 * The daemon's structured logger, on pino: one JSON object per line (journald
 * keeps it as is), `{level, ts, msg, ...fields}`, levels, child loggers, and
 * asynchronous batched writes to stderr (a request logs a line or two, and
 * each write to a pipe is a syscall, a costly one in a VM; pino flushes what
 * is pending at exit, also after an uncaught exception).
 *
 * Our own `redact` runs on every record (as pino's formatter) and on every
 * child's fields, whatever the caller passes (pino's `redact` option takes fixed
 * paths, so a new field such as `authKey` three levels down would be logged
 * until someone listed it):
 *  - a field whose name looks like key material (key, psk, secret, password,
 *    tgk, tek, salt, pem; any case, as a suffix: `authKey`, `privateKey`)
 *    becomes "<redacted>";
 *  - byte arrays become "<N bytes>" (never their content);
 *  - errors become {name, message, code?} (no stack, no attached fields);
 *  - nesting deeper than 4 levels and cycles are cut.
 */

import { pino, destination, type Logger as Pino } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

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
  /** Where lines go (one call per line); default stderr, asynchronous. */
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

export function createLogger(options: LoggerOptions = {}): Logger {
  const now = options.now ?? (() => new Date());
  const p = pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      timestamp: () => `,"ts":"${now().toISOString()}"`,
      // Errors are redacted to {name, message, code} like any value: no stack.
      serializers: { err: (e: unknown) => e },
      formatters: {
        level: (label) => ({ level: label }),
        log: (o) => redact(o) as Record<string, unknown>,
      },
    },
    options.write ? { write: options.write } : destination({ dest: 2, sync: false }),
  );
  return wrap(p);
}

function wrap(p: Pino): Logger {
  return {
    debug: (m, f) => p.debug(f ?? {}, m),
    info: (m, f) => p.info(f ?? {}, m),
    warn: (m, f) => p.warn(f ?? {}, m),
    error: (m, f) => p.error(f ?? {}, m),
    child: (fields) => wrap(p.child(redact(fields) as LogFields)),
  };
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = createLogger({ write: () => {} });
