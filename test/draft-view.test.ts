import { describe, expect, it } from 'vitest';
import { draftMessage, MAX_SHOWN_DRAFT_CHARS } from '../src/channels/slack/blocks.ts';

const view = (body: string) => ({ draftId: 'd1', toAddress: 'dana@client.example', subject: 'Re: Plans', body, status: 'pending' as const });
const shownText = (blocks: ReturnType<typeof draftMessage>['blocks']) =>
  blocks
    .slice(1)
    .flatMap((block) => (block.type === 'section' && block.text ? [block.text.text] : []))
    .join('');

describe('the draft as the approver sees it', () => {
  it('shows every character of a long draft, split into sections Slack accepts', () => {
    const paragraph = 'We can deliver the chairs on Tuesday & the tables on Friday <as agreed>. ';
    const body = Array.from({ length: 130 }, (_, index) => `${index}: ${paragraph}`).join('\n');
    expect(body.length).toBeGreaterThan(9000);
    const { blocks } = draftMessage(view(body));
    const shown = shownText(blocks).replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    expect(shown).toBe(body);
    for (const block of blocks) if (block.type === 'section' && block.text) expect(block.text.text.length).toBeLessThanOrEqual(3000);
    expect(blocks.length).toBeLessThanOrEqual(50);
    expect(JSON.stringify(blocks)).toContain('draft_approve');
  });

  it('offers no Approve button for a draft too long to show whole', () => {
    const { blocks } = draftMessage(view('x'.repeat(MAX_SHOWN_DRAFT_CHARS + 1)));
    expect(JSON.stringify(blocks)).not.toContain('draft_approve');
    expect(JSON.stringify(blocks)).toContain('cannot be approved here');
  });
});
