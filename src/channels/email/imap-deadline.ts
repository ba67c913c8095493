import { AdjutantError } from '../../errors.ts';

/**
 * Rejects when `work` has not settled within `ms`. The work itself goes on (a promise cannot
 * be cancelled); callers that need it stopped close what it runs on, e.g. the IMAP connection.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AdjutantError('IMAP_FAILED', `${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
