// Runs on `npm ci` / `npm install` (postinstall): generates the Prisma client into
// src/db/generated. `prisma generate` never runs the schema engine, but the CLI tries to
// download it first and fails offline; pointing it at any existing file skips the download.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const env = { ...process.env };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) env.PRISMA_SCHEMA_ENGINE_BINARY = existsSync('/bin/false') ? '/bin/false' : process.execPath;
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
env.CHECKPOINT_DISABLE = '1';

const result = spawnSync(process.execPath, ['node_modules/prisma/build/index.js', 'generate'], { stdio: 'inherit', env });
if (result.status !== 0) {
  console.error('[adjutant] `prisma generate` failed: the Prisma client in src/db/generated is missing or stale. Re-run `npm run postinstall` and read the error above.');
  process.exit(result.status ?? 1);
}
