// The XFRM backend on a kernel with ESP (the lab): the shared kernel suite
// (backend-suite.ts) with every algorithm suite.
import { SUITES } from '../../src/kernel/algorithms.js';
import { openXfrmBackend } from '../../src/kernel/xfrm/backend.js';
import { kernelBackendSuite, REQID } from './backend-suite.js';

kernelBackendSuite({
  name: 'XFRM',
  open: (netns) => openXfrmBackend({ netns }),
  suites: SUITES.map((s) => s.name),
  primary: 'aes-gcm-128',
  allocSuite: 'aes-gcm-256',
  cbcSuite: 'aes-cbc-128-hmac-sha256',
  keysSuite: 'aes-cbc-256-hmac-sha256',
  kernelReqid: REQID,
  ipXfrmAlgs: [/auth-trunc hmac\(sha256\) 0x[0-9a-f]{64} 128/, /enc cbc\(aes\) 0x[0-9a-f]{32}/],
  pinsSpi: true,
  addOp: 'NEWSA',
});
