/**
 * A contact per counterparty: who they are, and a short rolling summary of the relationship for
 * drafts to lean on. The summary is refreshed when their mail arrives: written by the routine
 * model when one is configured, else composed from the data (how much mail, since when, about
 * what lately).
 */
import type { Database } from '../db/database.ts';
import type { Contact } from './types.ts';

/** Free-mail providers say nothing about the organisation behind an address. */
const PERSONAL_DOMAINS = new Set(['gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'yahoo.com', 'icloud.com', 'me.com', 'aol.com', 'proton.me', 'protonmail.com', 'gmx.de', 'gmx.net', 'web.de', 'mail.com', 'yandex.ru']);

/** "billing@north-oak-timber.co.uk" → "North Oak Timber". */
export function organisationFromAddress(address: string): string | null {
  const domain = address.split('@')[1]?.toLowerCase();
  if (!domain || PERSONAL_DOMAINS.has(domain)) return null;
  const labels = domain.split('.');
  // The registrable name: the label before the public suffix (co.uk, com.au: two labels).
  const suffixLength = labels.length >= 3 && (labels.at(-2)?.length ?? 0) <= 3 ? 2 : 1;
  const name = labels[labels.length - suffixLength - 1];
  if (!name) return null;
  return name
    .split('-')
    .filter((part) => part !== '')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join(' ');
}

export interface RecentExchange {
  subject: string;
  at: Date | null;
  /** The start of the text. */
  excerpt: string;
}

/** The summary when no model is configured: facts a person can check. */
export function dataSummary(contact: Contact, recent: RecentExchange[]): string {
  const who = contact.name ? `${contact.name} <${contact.address}>` : contact.address;
  const org = contact.organisation ? ` (${contact.organisation})` : '';
  const since = contact.firstSeenAt ? ` since ${contact.firstSeenAt.toISOString().slice(0, 10)}` : '';
  const lines = [`${who}${org}: ${contact.emailCount} email${contact.emailCount === 1 ? '' : 's'}${since}.`];
  if (recent.length > 0) {
    lines.push(`Recent: ${recent.map((exchange) => `"${exchange.subject}"${exchange.at ? ` (${exchange.at.toISOString().slice(0, 10)})` : ''}`).join('; ')}.`);
  }
  return lines.join(' ');
}

export interface ContactStore {
  /** Mail from (or to) this address arrived: counted once per email. */
  observe(input: { address: string; name: string | null; at: Date; emailId: string }): Promise<Contact>;
  get(address: string): Promise<Contact | null>;
  recentExchanges(address: string, limit: number): Promise<RecentExchange[]>;
  setSummary(address: string, summary: string, source: 'model' | 'data'): Promise<void>;
}

interface ContactRow {
  address: string;
  name: string | null;
  organisation: string | null;
  summary: string | null;
  summary_source: string | null;
  email_count: number;
  first_seen_at: Date | null;
  last_seen_at: Date | null;
}

function toContact(row: ContactRow): Contact {
  return {
    address: row.address,
    name: row.name,
    organisation: row.organisation,
    summary: row.summary,
    summarySource: row.summary_source === 'model' || row.summary_source === 'data' ? row.summary_source : null,
    emailCount: row.email_count,
    firstSeenAt: row.first_seen_at,
    lastSeenAt: row.last_seen_at,
  };
}

const COLUMNS = 'address, name, organisation, summary, summary_source, email_count, first_seen_at, last_seen_at';

export function createContactStore({ pool }: Pick<Database, 'pool'>): ContactStore {
  return {
    async observe({ address, name, at, emailId }) {
      const normalized = address.trim().toLowerCase();
      // Counted once per email: the audit entry is the marker, written in the same statement.
      const result = await pool.query<ContactRow>(
        `WITH seen AS (SELECT 1 FROM audit_log WHERE entity_type = 'email' AND entity_id = $5 AND action = 'contact.observed' AND data->>'address' = $1),
         upserted AS (
           INSERT INTO contacts (id, address, name, organisation, email_count, first_seen_at, last_seen_at)
           SELECT gen_random_uuid(), $1, $2, $3, 1, $4, $4 WHERE NOT EXISTS (SELECT 1 FROM seen)
           ON CONFLICT (address) DO UPDATE SET
             name = coalesce(EXCLUDED.name, contacts.name),
             organisation = coalesce(contacts.organisation, EXCLUDED.organisation),
             email_count = contacts.email_count + 1,
             first_seen_at = least(contacts.first_seen_at, EXCLUDED.first_seen_at),
             last_seen_at = greatest(contacts.last_seen_at, EXCLUDED.last_seen_at),
             updated_at = now()
           RETURNING ${COLUMNS}),
         marked AS (
           INSERT INTO audit_log (actor, action, entity_type, entity_id, data)
           SELECT 'memory', 'contact.observed', 'email', $5, jsonb_build_object('address', $1::text) FROM upserted)
         SELECT ${COLUMNS} FROM upserted
         UNION ALL SELECT ${COLUMNS} FROM contacts WHERE address = $1 AND EXISTS (SELECT 1 FROM seen)`,
        [normalized, name?.trim() || null, organisationFromAddress(normalized), at, emailId],
      );
      const row = result.rows[0];
      if (!row) throw new Error(`contact ${normalized} was neither stored nor found`);
      return toContact(row);
    },
    async get(address) {
      const result = await pool.query<ContactRow>(`SELECT ${COLUMNS} FROM contacts WHERE address = $1`, [address.trim().toLowerCase()]);
      return result.rows[0] ? toContact(result.rows[0]) : null;
    },
    async recentExchanges(address, limit) {
      const result = await pool.query<{ title: string; occurred_at: Date | null; excerpt: string }>(
        `SELECT title, occurred_at, left(content, 600) AS excerpt FROM memory_items WHERE counterparty = $1 AND kind = 'email' AND deleted_at IS NULL
         ORDER BY occurred_at DESC NULLS LAST LIMIT $2`,
        [address.trim().toLowerCase(), limit],
      );
      return result.rows.map((row) => ({ subject: row.title, at: row.occurred_at, excerpt: row.excerpt }));
    },
    async setSummary(address, summary, source) {
      await pool.query('UPDATE contacts SET summary = $2, summary_source = $3, summary_updated_at = now(), updated_at = now() WHERE address = $1', [
        address.trim().toLowerCase(),
        summary.slice(0, 2000),
        source,
      ]);
    },
  };
}
