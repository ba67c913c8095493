import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * `npm test` starts the local services before vitest; running vitest directly starts them here.
 * up.sh is idempotent and takes well under a second when everything is already up.
 */
export default function setup(): void {
  const envFile = `${process.env.ADJUTANT_TEST_STATE_DIR ?? '/tmp/adjutant-test-services'}/env`;
  if (!existsSync(envFile) || process.env.ADJUTANT_TEST_SERVICES_CHECK === '1') {
    execFileSync('bash', ['test/services/up.sh'], { stdio: 'inherit' });
  }
}
