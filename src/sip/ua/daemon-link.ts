/**
 * The reference UA's side of sipsecd's events, over a reconnecting
 * SipsecClient (docs/PROTOCOL.md §8):
 *
 *   rekey-needed (callId)     re-INVITE that call with a new offer
 *   reconnected, resubscribed events may have been lost while sipsecd was
 *                             away (a restart): ask it for each active
 *                             call's SAs and re-INVITE the calls it no
 *                             longer keys (SAs gone, or the call unknown)
 *
 * Calls themselves need nothing: the client reconnects on the UA's next
 * request, so a call that outlives a daemon restart is still released.
 */
import type { SipsecClient, SipsecClientError } from '../../client/client.js';
import type { UaEvent, UserAgent } from './agent.js';

/** Follow `client`'s events for `ua`; call after `client.subscribe(['rekey-needed'])`. */
export function followDaemon(ua: UserAgent, client: SipsecClient, log: (e: UaEvent) => void): void {
  client.on('event', (ev) => {
    log({ event: 'sipsecd-event', name: ev.event, ...('callId' in ev.data ? { callId: ev.data.callId } : {}) });
    if (ev.event === 'rekey-needed') void ua.rekey(ev.data.callId);
  });
  client.on('disconnected', (e) => log({ event: 'sipsecd-disconnected', detail: e.message }));
  client.on('reconnected', (info) => {
    log({ event: 'sipsecd-reconnected', downMs: info.reconnectedAt - info.lostAt, resubscribed: info.resubscribed });
    if (info.resubscribed) void resync(ua, client, log);
  });
}

/** After an event gap: re-INVITE every active call sipsecd no longer has SAs for.  Resolves with those calls. */
export async function resync(ua: UserAgent, client: SipsecClient, log: (e: UaEvent) => void): Promise<string[]> {
  const rekeyed: string[] = [];
  for (const callId of ua.activeCalls()) {
    let keyed: boolean;
    try {
      keyed = (await client.sas(callId)).sas.length > 0;
    } catch (e) {
      if ((e as SipsecClientError).code !== 'no-such-call') {
        log({ event: 'resync-failed', callId, detail: (e as Error).message });
        continue;
      }
      keyed = false;
    }
    if (keyed) continue;
    log({ event: 'resync-rekey', callId });
    if (await ua.rekey(callId)) rekeyed.push(callId);
  }
  return rekeyed;
}
