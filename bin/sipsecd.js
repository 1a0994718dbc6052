#!/usr/bin/env node
// `npx sipsecd ...` from the checkout: run the built daemon (scripts/setup builds it).
import '../dist/cli/sipsecd.js';
