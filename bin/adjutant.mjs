#!/usr/bin/env node
// `adjutant <command>`: runs the TypeScript CLI in-process through tsx (no build step), so
// signals reach the service directly.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
