import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../src/db/database.ts';
import { createTestDatabase, type TestDatabase } from './support/databases.ts';

describe('embedded database', () => {
  let directory: TestDatabase;
  afterAll(async () => directory?.drop());

  it('refuses a second opener of the same DATA_DIR, naming the holder and the way out, and reopens after close', async () => {
    directory = await createTestDatabase('pglite');
    const first = await createDatabase({ dataDir: directory.dataDir });
    await expect(createDatabase({ dataDir: directory.dataDir })).rejects.toThrow(new RegExp(`in use by another Adjutant process \\(pid ${process.pid}\\).*DATABASE_URL`));
    await first.pool.query('CREATE TABLE kept (value text)');
    await first.pool.query("INSERT INTO kept VALUES ('still here')");
    await first.close();

    const second = await createDatabase({ dataDir: directory.dataDir });
    const { rows } = await second.pool.query<{ value: string }>('SELECT value FROM kept');
    expect(rows).toEqual([{ value: 'still here' }]);
    await second.close();
  });
});
