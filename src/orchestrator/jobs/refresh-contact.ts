import { z } from 'zod';
import { summarizeContact } from '../../agents/contact-summarizer.ts';
import type { ModelRouter } from '../../brains/router.ts';
import type { Logger } from '../../logger.ts';
import { dataSummary, type ContactStore } from '../../memory/contacts.ts';
import type { JobDefinition } from '../job-queue.ts';
import { JOB_REFRESH_CONTACT } from '../job-names.ts';

const data = z.object({ address: z.string().min(3).max(320) });
export type RefreshContactData = z.infer<typeof data>;

/**
 * Rewrites a contact's rolling summary after their mail arrived: the local model when one is
 * configured, else (or when it fails) a summary made from the data, so a draft always has one.
 * Not the cloud model: a paid call for every inbound email buys little over the data summary.
 */
export function refreshContactJob(deps: { contacts: ContactStore; router: ModelRouter | null; teamName: string; logger: Logger }): JobDefinition<z.infer<typeof data>> {
  return {
    name: JOB_REFRESH_CONTACT,
    schema: data,
    maxRetries: 3,
    async run({ address }) {
      const contact = await deps.contacts.get(address);
      if (!contact) return;
      const recent = await deps.contacts.recentExchanges(address, 5);
      if (deps.router?.available().local) {
        try {
          const summary = await summarizeContact(deps.router, { teamName: deps.teamName, contact, recent });
          await deps.contacts.setSummary(address, summary, 'model');
          return;
        } catch (error) {
          deps.logger.warn({ err: error, address }, 'contact summary by model failed; using the data summary');
        }
      }
      await deps.contacts.setSummary(address, dataSummary(contact, recent), 'data');
    },
  };
}
