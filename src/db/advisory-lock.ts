import type pg from 'pg';

export interface HeldLock {
  release(): Promise<void>;
}

export interface LockProvider {
  /** Take the lock if free; null when another process holds it. */
  tryAcquire(key: string): Promise<HeldLock | null>;
}

/**
 * Session-level advisory locks on a dedicated connection: the lock lives as long as that
 * connection, so a crashed replica frees it and a standby takes over.
 */
export function createAdvisoryLocks(pool: pg.Pool, embedded: boolean): LockProvider {
  return {
    async tryAcquire(key) {
      // The embedded database belongs to one process: there is nobody to exclude, and holding
      // its only connection would stall everything else.
      if (embedded) return { release: async () => undefined };
      const client = await pool.connect();
      try {
        const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [key]);
        if (!rows[0]?.locked) {
          client.release();
          return null;
        }
      } catch (error) {
        client.release(error as Error);
        throw error;
      }
      return {
        async release() {
          try {
            await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]);
            client.release();
          } catch (error) {
            client.release(error as Error);
          }
        },
      };
    },
  };
}
