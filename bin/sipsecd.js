#!/usr/bin/env -S MALLOC_TOP_PAD_=67108864 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_MMAP_THRESHOLD_=4194304 node --min-semi-space-size=16 --max-semi-space-size=16
// `npx sipsecd ...` from the checkout: run the built daemon (scripts/setup builds it).
// The line above is the one place of sipsecd's node flags and glibc malloc settings
// (src/lab/sipsecd-command.ts starts it from it in the lab): a young generation of a fixed
// 16 MiB and a heap that is not trimmed, so that memory freed after a request is reused
// by the next one instead of being given back and faulted in again (docs/PERFORMANCE.md).
import '../dist/cli/sipsecd.js';
