#!/usr/bin/env -S node --min-semi-space-size=16 --max-semi-space-size=16
// `npx sipsecd ...` from the checkout: run the built daemon (scripts/setup builds it).
// The line above is the one place of sipsecd's node flags, and config/sipsecd.service's
// `Environment=` of its glibc malloc settings (src/lab/sipsecd-command.ts starts it from
// both in the lab): a young generation of a fixed 16 MiB and a heap that is not trimmed, so
// that memory freed after a request is reused by the next one instead of being given back
// and faulted in again (docs/PERFORMANCE.md).  The shebang stays under 127 bytes, the
// limit of kernels before 5.1.
import '../dist/cli/sipsecd.js';
