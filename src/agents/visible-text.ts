/**
 * Characters a person reading the text in Slack cannot see, but a mail client or a model can:
 * zero-width characters, bidirectional overrides and isolates (which reorder what is shown),
 * Unicode tag characters (an invisible copy of ASCII), and other format controls. A draft must
 * hold nothing its approver cannot see, so they are taken out of model output before anyone
 * reads it.
 *
 * The two joiners are needed by some writing: U+200D inside emoji sequences (👩‍🔧), U+200C
 * between letters of Arabic and Indic scripts. Anywhere else (and in runs) they can carry data
 * unseen, one bit each, so only a single joiner in those places stays.
 */
const HIDDEN = /[\u00AD\u180E\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\u{E0000}-\u{E007F}]/gu;
const JOINER_RUN = /[\u200C\u200D]+/gu;
const PICTOGRAPH = /\p{Extended_Pictographic}/u;
const JOINING_SCRIPT = /[\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Devanagari}\p{Script=Bengali}\p{Script=Gurmukhi}\p{Script=Gujarati}\p{Script=Oriya}\p{Script=Tamil}\p{Script=Telugu}\p{Script=Kannada}\p{Script=Malayalam}\p{Script=Sinhala}]/u;

export function withoutHiddenCharacters(text: string): string {
  const visible = text.replace(HIDDEN, '');
  return visible.replace(JOINER_RUN, (run, offset: number, whole: string) => {
    if (run.length !== 1) return '';
    const before = Array.from(whole.slice(Math.max(0, offset - 2), offset)).at(-1) ?? '';
    const after = Array.from(whole.slice(offset + 1, offset + 3))[0] ?? '';
    if (run === '\u200D' && PICTOGRAPH.test(before) && PICTOGRAPH.test(after)) return run;
    if (run === '\u200C' && JOINING_SCRIPT.test(before) && JOINING_SCRIPT.test(after)) return run;
    return '';
  });
}
