import type { ModelRouter } from '../brains/router.ts';
import type { BriefingData } from '../channels/slack/briefing-view.ts';
import { loadPrompt, neutraliseTags, renderPrompt } from './prompts.ts';
import { withoutHiddenCharacters } from './visible-text.ts';

const MAX_OPENING_CHARS = 600;

/**
 * The briefing's opening paragraph, written by the routine model from the briefing's data
 * (fenced: subjects and summaries come from outside mail). The briefing does not depend on it:
 * null when the model fails or says nothing usable, and the data alone is posted.
 */
export async function writeOpening(router: ModelRouter, input: { teamName: string; data: BriefingData; briefingId: string }): Promise<string | null> {
  const { data } = input;
  const facts = {
    mail_since_last_briefing: data.mail.byCategory,
    needing_attention: data.mail.attention.map((mail) => ({ subject: mail.subject, from: mail.from, summary: mail.summary, urgency: mail.urgency })),
    drafts_awaiting_approval: data.pending.map((draft) => ({ subject: draft.subject, waiting_hours: Math.round((data.now.getTime() - draft.since.getTime()) / 3_600_000) })),
    waiting_on_us: data.waitingOnUs.map((thread) => ({ subject: thread.subject, from: thread.from })),
    due_today: data.dueToday.map((due) => ({ what: due.what, kind: due.kind, subject: due.subject })),
    failing: [...(data.mailbox.status === 'failing' ? ['mailbox'] : []), ...data.jobs.dead.map((job) => job.name)],
  };
  const result = await router.complete(
    'brief',
    {
      system: renderPrompt(loadPrompt('briefing'), { team_name: input.teamName }),
      messages: [{ role: 'user', content: `<briefing_data>\n${neutraliseTags(JSON.stringify(facts, null, 1), ['briefing_data'])}\n</briefing_data>` }],
      maxTokens: 200,
      temperature: 0.2,
    },
    { servedFor: { kind: 'briefing', id: input.briefingId } },
  );
  const opening = withoutHiddenCharacters(result.text).replace(/\s+/g, ' ').trim();
  if (opening === '') return null;
  return opening.length > MAX_OPENING_CHARS ? `${opening.slice(0, MAX_OPENING_CHARS - 1)}…` : opening;
}
