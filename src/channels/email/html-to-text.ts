// HTML to text. A linear scan (no backtracking regexes over the whole document, since the HTML
// is attacker-controlled and can be megabytes): tags dropped, entities decoded, block elements
// turned into line breaks so forwarded header blocks keep one header per line.

const SKIPPED_ELEMENTS = new Set(['head', 'style', 'script', 'title', 'template']);
const PARAGRAPH_ELEMENTS = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'blockquote', 'ul', 'ol', 'pre']);
const LINE_ELEMENTS = new Set([
  'address', 'article', 'aside', 'body', 'center', 'dd', 'div', 'dl', 'dt', 'fieldset', 'figcaption',
  'figure', 'footer', 'form', 'header', 'hr', 'html', 'li', 'main', 'nav', 'section', 'table', 'tbody',
  'tfoot', 'thead', 'tr',
]);
const TAG_NAME = /^\/?([a-zA-Z][a-zA-Z0-9:-]*)/;

export function htmlToText(html: string): string {
  const lower = html.toLowerCase();
  // Element names known to have no closing tag further on, so a flood of unterminated
  // <style> tags costs one scan instead of one per tag.
  const unterminated = new Set<string>();
  const out: string[] = [];
  let atLineStart = true;
  let hasContent = false;
  let pendingBreak: 0 | 1 | 2 = 0;
  let paragraphBreak: 1 | 2 = 2;

  const pushText = (raw: string): void => {
    const piece = decodeEntities(raw).replace(/[ \t\n\r\f]+/g, ' ');
    // Not String#trim: a lone &nbsp; is content (Outlook's empty paragraphs), a space is not.
    if (piece === '' || piece === ' ') {
      if (!atLineStart && pendingBreak === 0 && piece !== '') out.push(' ');
      return;
    }
    if (hasContent && pendingBreak === 1 && !atLineStart) out.push('\n');
    if (hasContent && pendingBreak === 2) out.push(atLineStart ? '\n' : '\n\n');
    out.push(pendingBreak > 0 || atLineStart ? piece.replace(/^ /, '') : piece);
    pendingBreak = 0;
    atLineStart = false;
    hasContent = true;
  };
  const lineBreak = (): void => {
    if (pendingBreak > 0 && !atLineStart) out.push('\n');
    out.push('\n');
    pendingBreak = 0;
    atLineStart = true;
  };
  const blockBreak = (kind: 1 | 2): void => {
    if (kind > pendingBreak) pendingBreak = kind;
  };

  let index = 0;
  while (index < html.length) {
    const open = html.indexOf('<', index);
    if (open === -1) {
      pushText(html.slice(index));
      break;
    }
    if (open > index) pushText(html.slice(index, open));
    if (html.startsWith('<!--', open)) {
      const end = html.indexOf('-->', open + 4);
      index = end === -1 ? html.length : end + 3;
      continue;
    }
    const close = html.indexOf('>', open + 1);
    if (close === -1) {
      pushText(html.slice(open));
      break;
    }
    const tag = html.slice(open + 1, close);
    index = close + 1;
    const name = TAG_NAME.exec(tag)?.[1]?.toLowerCase();
    if (name === undefined) {
      // "<!DOCTYPE", "<?xml", or a literal "<" in text such as "a < b".
      if (!tag.startsWith('!') && !tag.startsWith('?')) pushText(html.slice(open, close + 1));
      continue;
    }
    const closing = tag.startsWith('/');
    if (!closing && SKIPPED_ELEMENTS.has(name)) {
      const end = unterminated.has(name) ? -1 : lower.indexOf(`</${name}`, index);
      // Unterminated: drop just the tag rather than the rest of the document.
      if (end === -1) unterminated.add(name);
      else {
        const endClose = html.indexOf('>', end);
        index = endClose === -1 ? html.length : endClose + 1;
      }
      continue;
    }
    if (name === 'br') lineBreak();
    else if (name === 'li' && !closing) {
      blockBreak(1);
      pushText('- ');
    } else if (name === 'td' || name === 'th') {
      if (!closing) pushText(' ');
    } else if (name === 'p') {
      // Outlook writes every line as <p class=MsoNormal> with zero margins: a line, not a paragraph.
      if (!closing) paragraphBreak = /class\s*=\s*["']?MsoNormal/i.test(tag) ? 1 : 2;
      blockBreak(paragraphBreak);
    } else if (PARAGRAPH_ELEMENTS.has(name)) blockBreak(2);
    else if (LINE_ELEMENTS.has(name)) blockBreak(1);
  }

  return out
    .join('')
    .replace(/\u00a0/g, ' ')
    .split('\n')
    .map((line) => line.replace(/[ \t]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

// A Map, not an object literal: "&constructor;" must not find Object.prototype.constructor.
const NAMED_ENTITIES = new Map<string, string>(Object.entries({
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0', ensp: ' ', emsp: ' ', thinsp: ' ',
  shy: '', zwnj: '', zwj: '', lrm: '', rlm: '', hellip: '…', mdash: '—', ndash: '–', lsquo: '‘',
  rsquo: '’', sbquo: '‚', ldquo: '“', rdquo: '”', bdquo: '„', laquo: '«', raquo: '»', bull: '•',
  middot: '·', copy: '©', reg: '®', trade: '™', euro: '€', pound: '£', yen: '¥', cent: '¢',
  sect: '§', para: '¶', deg: '°', plusmn: '±', times: '×', divide: '÷', frac12: '½', frac14: '¼',
  frac34: '¾', iexcl: '¡', iquest: '¿', eacute: 'é', egrave: 'è', ecirc: 'ê', euml: 'ë',
  aacute: 'á', agrave: 'à', acirc: 'â', auml: 'ä', aring: 'å', ccedil: 'ç', iacute: 'í',
  oacute: 'ó', ocirc: 'ô', ouml: 'ö', uacute: 'ú', uuml: 'ü', ntilde: 'ñ', szlig: 'ß',
  Auml: 'Ä', Ouml: 'Ö', Uuml: 'Ü', Eacute: 'É',
}));

function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});/g, (match, entity: string) => {
    if (entity.startsWith('#')) {
      const code = entity[1] === 'x' || entity[1] === 'X' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return '\ufffd';
      return String.fromCodePoint(code);
    }
    return NAMED_ENTITIES.get(entity) ?? NAMED_ENTITIES.get(entity.toLowerCase()) ?? match;
  });
}
