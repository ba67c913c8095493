/**
 * Characters a person reading the text in Slack cannot see, but a mail client or a model can:
 * zero-width characters, bidirectional overrides and isolates (which reorder what is shown),
 * Unicode tag characters (an invisible copy of ASCII), and other format controls. A draft must
 * hold nothing its approver cannot see, so they are taken out of model output before anyone
 * reads it. Ordinary joiners inside emoji and scripts that need them (U+200D, U+200C) stay.
 */
const HIDDEN = /[\u00AD\u180E\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\u{E0000}-\u{E007F}]/gu;

export function withoutHiddenCharacters(text: string): string {
  return text.replace(HIDDEN, '');
}
