// A capture of the SIP traffic at the SIP lab's proxy (port 5060, UDP and TCP).
import { type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { SipLab } from '../../../src/lab/demo-lab.js';

export interface SipCapture {
  readonly pcap: string;
  readonly process: ChildProcess;
}

/** Starts dumpcap on the proxy and waits until it has written the pcap header (slow under UML). */
export async function captureSip(lab: SipLab): Promise<SipCapture> {
  const pcap = join(lab.dir, 'sip.pcap');
  const process = lab.t.spawn('proxy', ['dumpcap', '-q', '-i', 'eth0', '-f', 'port 5060', '-w', pcap]);
  for (let i = 0; i < 1800 && !(existsSync(pcap) && statSync(pcap).size > 0); i++) await new Promise((r) => setTimeout(r, 100));
  expect(existsSync(pcap)).toBe(true);
  return { pcap, process };
}
