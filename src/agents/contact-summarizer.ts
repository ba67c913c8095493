import { z } from 'zod';
import type { ModelRouter } from '../brains/router.ts';
import { AdjutantError } from '../errors.ts';
import type { Contact } from '../memory/types.ts';
import { loadPrompt, neutraliseTags, renderPrompt } from './prompts.ts';

export interface ContactMaterial {
  teamName: string;
  contact: Contact;
  /** Their recent emails, newest first: subject, date and the start of the text. */
  recent: { subject: string; at: Date | null; excerpt: string }[];
}

const summary = z
  .string()
  .transform((text) => text.trim().replace(/^["']|["']$/g, ''))
  .pipe(z.string().min(10, 'the model returned an empty summary').max(800, 'the model returned an overlong summary'));

/** A summary is routine work: the local model first. */
export async function summarizeContact(router: ModelRouter, material: ContactMaterial): Promise<string> {
  const { contact } = material;
  const emails = material.recent
    .map((email) => `<email>\nSubject: ${neutralise(email.subject)}\nDate: ${email.at?.toISOString().slice(0, 10) ?? 'unknown'}\n${neutralise(email.excerpt)}\n</email>`)
    .join('\n');
  const result = await router.complete('summarise', {
    system: renderPrompt(loadPrompt('contact-summary'), { team_name: material.teamName }),
    messages: [
      {
        role: 'user',
        content: `Contact: ${neutralise(contact.name ?? '')} <${contact.address}>${contact.organisation ? `, ${contact.organisation}` : ''}; ${contact.emailCount} emails since ${contact.firstSeenAt?.toISOString().slice(0, 10) ?? 'unknown'}.\n\n${emails}`,
      },
    ],
    maxTokens: 200,
    temperature: 0.2,
  }, { servedFor: { kind: 'contact', id: contact.address } });
  const parsed = summary.safeParse(result.text);
  if (!parsed.success) throw new AdjutantError('MODEL_OUTPUT_INVALID', `contact summary from ${result.provider}/${result.model} is unusable: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

function neutralise(text: string): string {
  return neutraliseTags(text, ['email']);
}
