/**
 * Split text into chunks small enough to embed and to quote as a source. Paragraph
 * boundaries are kept where possible so a chunk reads as a unit.
 */
export function chunkText(text: string, maxChars = 1200): string[] {
  const paragraphs = text
    .replace(/\r\n/g, '\n')
    .split(/\n{2,}/)
    .map((paragraph) => paragraph.trim())
    .filter((paragraph) => paragraph !== '');
  const chunks: string[] = [];
  let current = '';
  for (const paragraph of paragraphs) {
    for (const piece of splitLong(paragraph, maxChars)) {
      if (current !== '' && current.length + piece.length + 2 > maxChars) {
        chunks.push(current);
        current = '';
      }
      current = current === '' ? piece : `${current}\n\n${piece}`;
    }
  }
  if (current !== '') chunks.push(current);
  return chunks;
}

function splitLong(paragraph: string, maxChars: number): string[] {
  if (paragraph.length <= maxChars) return [paragraph];
  const pieces: string[] = [];
  let rest = paragraph;
  while (rest.length > maxChars) {
    // Prefer to cut at a sentence end, then a space, inside the window.
    const window = rest.slice(0, maxChars);
    const cut = Math.max(window.lastIndexOf('. '), window.lastIndexOf('\n'));
    const at = cut > maxChars / 2 ? cut + 1 : window.lastIndexOf(' ') > maxChars / 2 ? window.lastIndexOf(' ') : maxChars;
    pieces.push(rest.slice(0, at).trim());
    rest = rest.slice(at).trim();
  }
  if (rest !== '') pieces.push(rest);
  return pieces;
}
