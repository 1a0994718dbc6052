#!/usr/bin/env node
// `npx sipsec ...` from the checkout: run the built CLI (scripts/setup builds it).
import '../dist/cli/sipsec.js';
