import { readArchive } from '../channels/email/mail-archive.ts';
import { errorMessage } from '../errors.ts';

export interface ImportProgress {
  seen: number;
  stored: number;
  /** Already in memory (same Message-ID): nothing done. */
  skipped: number;
  /** Unusable (not mail, over the size limit) or failed to store: named in `failures`. */
  failed: number;
}

export interface ImportResult extends ImportProgress {
  failures: { origin: string; reason: string }[];
}

/** The part of the email ingest this needs: store once, remember, never draft. */
export type HistoricalIngest = (raw: Buffer, origin: string) => Promise<{ emailId: string | null; created: boolean }>;

/**
 * Loads old mail into memory: each message is stored once by Message-ID and remembered, and no
 * draft or card is made for it (old mail is context, not work). One bad message is recorded and
 * skipped; the rest still load.
 */
export async function importHistory(paths: string[], ingest: HistoricalIngest, onProgress: (progress: ImportProgress) => void = () => undefined): Promise<ImportResult> {
  const result: ImportResult = { seen: 0, stored: 0, skipped: 0, failed: 0, failures: [] };
  for await (const message of readArchive(paths)) {
    result.seen += 1;
    try {
      const { emailId, created } = await ingest(message.raw, message.origin);
      if (!emailId) {
        result.failed += 1;
        result.failures.push({ origin: message.origin, reason: 'not usable as mail (see the audit log: email.rejected)' });
      } else if (created) {
        result.stored += 1;
      } else {
        result.skipped += 1;
      }
    } catch (error) {
      result.failed += 1;
      result.failures.push({ origin: message.origin, reason: errorMessage(error) });
    }
    onProgress(result);
  }
  return result;
}
