/**
 * Separates what an email says for the first time from what it carries along: the quoted
 * history below an attribution line, and the signature. Only the new text is indexed, so a
 * thread of twenty replies does not index its first message twenty times, and a search for a
 * phrase finds the message that said it rather than every reply that quoted it.
 */

export interface EmailSections {
  /** What this message adds. */
  fresh: string;
  /** Quoted history (kept with the stored email, not indexed). */
  quoted: string;
  signature: string;
}

// "On Tue, 3 Mar 2026 at 10:02, Ana <ana@x.com> wrote:" and its translations; the line may wrap.
const ATTRIBUTION = [
  /^On\b.{0,200}\bwrote:\s*$/i,
  /^Le\b.{0,200}\ba écrit\s?:\s*$/i,
  /^Am\b.{0,200}\bschrieb\b.{0,200}:\s*$/i,
  /^El\b.{0,200}\bescribió:\s*$/i,
  /^Il\b.{0,200}\bha scritto:\s*$/i,
  /^Op\b.{0,200}\bschreef\b.{0,200}:\s*$/i,
  /^Em\b.{0,200}\bescreveu:\s*$/i,
  /^W dniu\b.{0,200}\bpisze:\s*$/i,
  /^Den\b.{0,200}\bskrev\b.{0,200}:\s*$/i,
];
// Outlook puts the history under a rule or an "Original Message" line, then a header block.
const HISTORY_SEPARATOR = /^\s*(?:-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|Messaggio originale|Oorspronkelijk bericht)\s*-{2,}|_{10,})\s*$/i;
const HEADER_BLOCK_START = /^\s*(?:From|De|Von|Van|Da|Från|Od):\s+\S/i;
const HEADER_BLOCK_NEXT = /^\s*(?:Sent|Date|Envoyé|Gesendet|Enviado|Verzonden|Inviato|Skickat|Wysłane|Datum|Fecha|Data|To|À|An|Para|Aan|A|Till|Do):\s+\S/i;
const SIGNATURE_DELIMITER = /^--\s?$/;
const MOBILE_FOOTER = /^(?:Sent from my \w+|Get Outlook for \w+|Envoyé de mon \w+|Von meinem \w+ gesendet)/i;

export function emailSections(body: string): EmailSections {
  const lines = body.replace(/\r\n?/g, '\n').split('\n');
  const freshLines: string[] = [];
  const quotedLines: string[] = [];
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index] ?? '';
    const previous = lines[index - 1] ?? '';
    // Outlook's history has no ">" marks: everything under its separator or header block is history.
    if (HISTORY_SEPARATOR.test(line) || (HEADER_BLOCK_START.test(line) && HEADER_BLOCK_NEXT.test(lines[index + 1] ?? '') && index > 0 && previous.trim() === '')) {
      quotedLines.push(...lines.slice(index));
      break;
    }
    const attribution = attributionLength(lines, index);
    if (attribution > 0) {
      const next = lines.slice(index + attribution).find((candidate) => candidate.trim() !== '');
      quotedLines.push(...lines.slice(index, index + attribution));
      // Quoted with ">" marks: replies below or between the quotes are new text (bottom posting).
      if (next !== undefined && /^\s*>/.test(next)) {
        index += attribution - 1;
        continue;
      }
      quotedLines.push(...lines.slice(index + attribution));
      break;
    }
    if (/^\s*>/.test(line)) quotedLines.push(line);
    else freshLines.push(line);
  }
  let signatureAt = freshLines.findIndex((line) => SIGNATURE_DELIMITER.test(line));
  if (signatureAt === -1) signatureAt = freshLines.findIndex((line) => MOBILE_FOOTER.test(line.trim()));
  const fresh = (signatureAt === -1 ? freshLines : freshLines.slice(0, signatureAt)).join('\n').trim();
  const signature = signatureAt === -1 ? '' : freshLines.slice(signatureAt).join('\n').trim();
  return { fresh, quoted: quotedLines.join('\n').trim(), signature };
}

/** 1 or 2 (wrapped by the sender's client) when an attribution line starts at `index`, else 0. */
function attributionLength(lines: string[], index: number): number {
  const line = (lines[index] ?? '').trim();
  if (line === '') return 0;
  if (ATTRIBUTION.some((pattern) => pattern.test(line))) return 1;
  const joined = `${line} ${(lines[index + 1] ?? '').trim()}`;
  return ATTRIBUTION.some((pattern) => pattern.test(joined)) ? 2 : 0;
}

/** The text of an email worth indexing: its new text, or everything when it adds nothing of its own. */
export function indexableEmailText(body: string): string {
  const sections = emailSections(body);
  return sections.fresh !== '' ? sections.fresh : body.trim();
}
