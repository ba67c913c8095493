#!/usr/bin/env node
// `adjutant <command>`: runs the TypeScript CLI in-process through tsx (no build step), so
// signals reach the service directly. `npm start` runs it too, as
// `node --max-semi-space-size=2 --v8-pool-size=1 bin/adjutant.mjs start`: V8's young generation then holds 4 MB
// instead of 32 (about 40 MB less resident, no measurable cost to ingest). Heap sizes can only be
// set on node's command line (or NODE_OPTIONS), not from here. tsx's ESM hooks alone are enough:
// `node --import tsx` would also register CommonJS hooks, which keep a second esbuild process
// and a worker thread alive after a start with an empty tsx cache (bench/footprint.bench.ts).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
