import { ImapFlow } from 'imapflow';
import { AdjutantError, errorMessage } from '../../errors.ts';
import { imapLogin } from './imap-connection.ts';

/** Where a copy of each sent reply goes, so the team's own mail client shows it. */
export interface SentFolder {
  /** Appends the message as read; returns the folder used, or null when the mailbox has none. */
  append(raw: Buffer): Promise<string | null>;
}

export interface SentFolderOptions {
  host: string;
  port?: number;
  user: string;
  password: string;
  tls: boolean;
  tlsOptions?: { rejectUnauthorized?: boolean; ca?: string };
}

/**
 * The Sent folder of the watched account, found by its special-use flag (RFC 6154) or, for
 * servers without it, by the usual names. A short connection per copy: replies are rare and the
 * watcher's own connection sits in IDLE.
 */
export function createSentFolder(options: SentFolderOptions): SentFolder {
  const port = options.port ?? (options.tls ? 993 : 143);
  return {
    async append(raw) {
      const client = new ImapFlow(imapLogin(options, port) as ConstructorParameters<typeof ImapFlow>[0]);
      client.on('error', () => undefined);
      try {
        await client.connect();
        const folders = await client.list();
        const sent =
          folders.find((folder) => folder.specialUse === '\\Sent') ??
          folders.find((folder) => /^(sent|sent items|sent messages|sent mail)$/i.test(folder.name));
        if (!sent) return null;
        await client.append(sent.path, raw, ['\\Seen']);
        return sent.path;
      } catch (error) {
        throw new AdjutantError('IMAP_FAILED', `IMAP ${options.host}:${port}: could not file the reply in the Sent folder: ${errorMessage(error)}`, { cause: error });
      } finally {
        await client.logout().catch(() => client.close());
      }
    },
  };
}
