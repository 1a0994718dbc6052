/**
 * The reference UA's YAML config (docs/SIP.md):
 *
 *   uri: sip:alice@example.org          # address of record
 *   address: 10.0.0.1                   # local IP for SIP, Contact, SDP
 *   port: 5060                          # SIP port, UDP and TCP (0: any)
 *   proxy: 10.0.0.3:5060                # outbound proxy + registrar; [tcp:]IP:port
 *   auth: { username: alice, password: secret }
 *   register: true                      # REGISTER before call/answer (default: when proxy set)
 *   socket: /run/sipsec/sipsecd.sock    # sipsecd control socket
 *   ipsec: true                         # offer/require MIKEY
 *   fallback: refuse                    # refuse | clear, when the peer cannot do MIKEY
 *   multipart: true                     # false: a legacy UA that answers 415 to multipart
 *   earlyAnswer: true                   # callee: answer (SDP + MIKEY) in a 183 while ringing
 *   media: { port: 40000, rate: 50 }    # RTP-like packets per second
 *   expires: 300
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse } from 'yaml';
import { z } from 'zod';
import type { UaOptions } from './agent.js';
import type { Target } from './transport.js';

const port = z.number().int().min(0).max(65535);
const schema = z.strictObject({
  uri: z.string().regex(/^sips?:[^@\s]+@\S+$/, { message: 'expected sip:user@domain' }),
  address: z.string().refine((a) => isIP(a) !== 0, { message: 'expected an IP address' }),
  port: port.default(5060),
  proxy: z.string().regex(/^(udp:|tcp:)?(\[[0-9a-fA-F:.]+\]|[0-9.]+)(:[0-9]{1,5})?$/, { message: 'expected [udp:|tcp:]IP[:port]' }).optional(),
  auth: z.strictObject({ username: z.string().min(1), password: z.string() }).optional(),
  register: z.boolean().optional(),
  socket: z.string().default('/run/sipsec/sipsecd.sock'),
  ipsec: z.boolean().default(true),
  fallback: z.enum(['refuse', 'clear']).default('refuse'),
  multipart: z.boolean().default(true),
  earlyAnswer: z.boolean().default(true),
  media: z.strictObject({ port: port.default(40000), rate: z.number().min(1).max(1000).default(50) }).default({ port: 40000, rate: 50 }),
  expires: z.number().int().min(0).max(86400).default(300),
});

export interface UaConfig {
  readonly address: string;
  readonly port: number;
  readonly socket: string;
  readonly register: boolean;
  readonly mediaRate: number;
  readonly options: UaOptions;
}

export class UaConfigError extends Error {
  override readonly name = 'UaConfigError';
}

export function parseProxy(text: string): Target {
  const m = /^(?:(udp|tcp):)?(?:\[([^\]]+)\]|([0-9.]+))(?::([0-9]{1,5}))?$/.exec(text);
  if (m === null) throw new UaConfigError(`bad proxy ${text}`);
  return { transport: (m[1] ?? 'udp') as 'udp' | 'tcp', address: m[2] ?? m[3]!, port: Number(m[4] ?? 5060) };
}

export function parseUaConfig(text: string): UaConfig {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new UaConfigError(`config is not YAML: ${(e as Error).message}`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw new UaConfigError(r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; '));
  const c = r.data;
  const proxy = c.proxy === undefined ? undefined : parseProxy(c.proxy);
  return {
    address: c.address,
    port: c.port,
    socket: c.socket,
    register: c.register ?? proxy !== undefined,
    mediaRate: c.media.rate,
    options: {
      uri: c.uri,
      ...(proxy ? { proxy } : {}),
      ...(c.auth ? { auth: c.auth } : {}),
      ipsec: c.ipsec,
      fallback: c.fallback,
      multipart: c.multipart,
      earlyAnswer: c.earlyAnswer,
      mediaPort: c.media.port,
      expires: c.expires,
    },
  };
}

export const loadUaConfig = (path: string): UaConfig => parseUaConfig(readFileSync(path, 'utf8'));
