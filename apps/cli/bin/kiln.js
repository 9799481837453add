#!/usr/bin/env node
// Committed entry so npm can link `kiln` before the TypeScript build exists.
await import('../dist/main.js');
