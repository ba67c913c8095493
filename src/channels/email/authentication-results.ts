/**
 * Reads an Authentication-Results header (RFC 8601): the receiving server's verdict on
 * DMARC, DKIM, SPF and the rest, for example
 *
 *   mx.acme.com 1; dkim=pass (good signature) header.d=acme.com header.s=s1;
 *     spf=pass smtp.mailfrom=bounce@acme.com; dmarc=pass (p=reject) header.from=acme.com
 *
 * Comments (in parentheses, nestable) are dropped, quoted strings are honoured (a ';' or '='
 * inside one is text), and each result becomes method, result, reason and its
 * `ptype.property=value` pairs. Malformed parts are skipped rather than fatal: the header is
 * written by servers we do not control, and an unreadable result simply is not a pass.
 */

export interface AuthenticationResult {
  /** Lower-cased: "dmarc", "dkim", "spf", "arc"… A method version ("dkim/1") is dropped. */
  method: string;
  /** Lower-cased: "pass", "fail", "none", "softfail", "temperror"… */
  result: string;
  reason: string | null;
  /** Keys lower-cased "ptype.property" ("header.from", "header.d", "smtp.mailfrom"); values as written. */
  properties: Map<string, string>;
}

export interface AuthenticationResults {
  /**
   * Who wrote the verdict (usually the receiving host's name), lower-cased. Null when the header
   * starts with a result instead (Microsoft 365 writes it that way).
   */
  authservId: string | null;
  results: AuthenticationResult[];
}

/** Longer values are not parsed: no real header is near this, and parsing stays cheap. */
const MAX_HEADER_LENGTH = 64 * 1024;

type Token = { kind: 'text'; text: string } | { kind: 'equals' } | { kind: 'semicolon' };

/** Null when the value is empty, too long, or has neither an authserv-id nor a result. */
export function parseAuthenticationResults(value: string): AuthenticationResults | null {
  if (value.length > MAX_HEADER_LENGTH) return null;
  const segments = splitSegments(tokenize(value));
  const [head, ...rest] = segments;
  if (!head) return null;

  let authservId: string | null = null;
  const resinfos = [...rest];
  // The authserv-id is a token or quoted string and cannot contain '=', so a first segment
  // with '=' is a result written without one.
  if (head.some((token) => token.kind === 'equals')) {
    resinfos.unshift(head);
  } else {
    const first = head[0];
    if (first?.kind === 'text') authservId = first.text.toLowerCase();
  }

  const results: AuthenticationResult[] = [];
  for (const segment of resinfos) {
    const result = parseResinfo(segment);
    if (result) results.push(result);
  }
  if (authservId === null && results.length === 0) return null;
  return { authservId, results };
}

/** `method=result [reason=value] [ptype.property=value ...]`; null when it does not start that way ("none", junk). */
function parseResinfo(tokens: Token[]): AuthenticationResult | null {
  const pairs = readPairs(tokens);
  const [first, ...others] = pairs;
  if (!first) return null;
  const method = first.key.split('/')[0]?.trim().toLowerCase() ?? '';
  if (method === '') return null;
  let reason: string | null = null;
  const properties = new Map<string, string>();
  for (const pair of others) {
    const key = pair.key.toLowerCase();
    if (key === 'reason') reason = pair.value;
    else if (key.includes('.') && !properties.has(key)) properties.set(key, pair.value);
  }
  return { method, result: first.value.toLowerCase(), reason, properties };
}

/** `key=value` pairs in order; tokens that do not form one (stray words, a lone '=') are skipped. */
function readPairs(tokens: Token[]): { key: string; value: string }[] {
  const pairs: { key: string; value: string }[] = [];
  let index = 0;
  while (index < tokens.length) {
    const key = tokens[index];
    const equals = tokens[index + 1];
    const value = tokens[index + 2];
    if (key?.kind === 'text' && equals?.kind === 'equals' && value?.kind === 'text') {
      pairs.push({ key: key.text, value: value.text });
      index += 3;
    } else {
      index += 1;
    }
  }
  return pairs;
}

function splitSegments(tokens: Token[]): Token[][] {
  const segments: Token[][] = [[]];
  for (const token of tokens) {
    if (token.kind === 'semicolon') segments.push([]);
    else segments.at(-1)?.push(token);
  }
  return segments.filter((segment) => segment.length > 0);
}

/**
 * Words, quoted strings, '=' and ';', with comments and whitespace dropped. A word or quoted
 * string that touches the previous one ('"john smith"@example.com') is joined to it.
 */
function tokenize(value: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  let separated = true;
  const pushText = (text: string): void => {
    const previous = tokens.at(-1);
    if (!separated && previous?.kind === 'text') {
      previous.text += text;
    } else {
      tokens.push({ kind: 'text', text });
    }
    separated = false;
  };

  while (index < value.length) {
    const character = value.charAt(index);
    if (character === ' ' || character === '\t' || character === '\r' || character === '\n') {
      separated = true;
      index += 1;
    } else if (character === '(') {
      index = skipComment(value, index);
      separated = true;
    } else if (character === '"') {
      const { text, end } = readQuoted(value, index);
      pushText(text);
      index = end;
    } else if (character === '=' || character === ';') {
      tokens.push(character === '=' ? { kind: 'equals' } : { kind: 'semicolon' });
      separated = true;
      index += 1;
    } else {
      let end = index;
      while (end < value.length && !/[\s()";=]/.test(value.charAt(end))) end += 1;
      pushText(value.slice(index, end));
      index = end;
    }
  }
  return tokens;
}

/**
 * Index after the comment starting at `start` ('('), nesting and backslash escapes honoured; an
 * unclosed one runs to the end. A '"' inside a comment is plain comment text (RFC 5322 ctext).
 */
function skipComment(value: string, start: number): number {
  let depth = 0;
  let index = start;
  while (index < value.length) {
    const character = value.charAt(index);
    if (character === '\\') {
      index += 2;
      continue;
    }
    if (character === '(') depth += 1;
    else if (character === ')') {
      depth -= 1;
      if (depth === 0) return index + 1;
    }
    index += 1;
  }
  return index;
}

function readQuoted(value: string, start: number): { text: string; end: number } {
  let text = '';
  let index = start + 1;
  while (index < value.length) {
    const character = value.charAt(index);
    if (character === '\\' && index + 1 < value.length) {
      text += value.charAt(index + 1);
      index += 2;
      continue;
    }
    if (character === '"') return { text, end: index + 1 };
    text += character;
    index += 1;
  }
  return { text, end: index };
}
