import { readFileSync, existsSync } from 'node:fs';

/** The local services test/services/up.sh started, read from the env file it writes. */
export interface TestServices {
  databaseUrl: string;
  imapHost: string;
  imapPort: number;
  lmtpPort: number;
  imapPassword: string;
  dovecotConfig: string;
}

const ENV_FILE = process.env.ADJUTANT_TEST_SERVICES_ENV ?? `${process.env.ADJUTANT_TEST_STATE_DIR ?? '/tmp/adjutant-test-services'}/env`;

export function testServices(): TestServices {
  if (!existsSync(ENV_FILE)) {
    throw new Error(`${ENV_FILE} is missing: run \`bash test/services/up.sh\` (npm test does this) to install and start PostgreSQL and Dovecot`);
  }
  const values = Object.fromEntries(
    readFileSync(ENV_FILE, 'utf8')
      .split('\n')
      .filter((line) => line.includes('=') && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  const need = (key: string) => {
    const value = values[key];
    if (!value) throw new Error(`${ENV_FILE} has no ${key}: re-run test/services/up.sh`);
    return value;
  };
  return {
    databaseUrl: need('TEST_DATABASE_URL'),
    imapHost: need('TEST_IMAP_HOST'),
    imapPort: Number(need('TEST_IMAP_PORT')),
    lmtpPort: Number(need('TEST_LMTP_PORT')),
    imapPassword: need('TEST_IMAP_PASSWORD'),
    dovecotConfig: need('TEST_DOVECOT_CONFIG'),
  };
}
