/**
 * Recovers the original message from an email a teammate forwarded to the shared mailbox, and
 * the teammate's note on top, which is the instruction. Only a verified teammate's forward
 * (sender-authentication.ts) carries an instruction; anything else is stored as plain mail.
 *
 * Inline forwards are recognised by email-forward-parser (inline-forward-reader.ts), which knows
 * the separators and header labels of the common clients in many languages. What is ours:
 * attached message/rfc822 parts (exact headers, real Message-ID), tidying the teammate's note,
 * the Message-ID Thunderbird names in X-Forwarded-Message-Id, unwrapping a forward of a
 * forward, and refusing to guess a sender the forward does not show.
 */
import { readInlineForward } from './inline-forward-reader.ts';
import type { InlineForwardResult } from './inline-forward-reader.ts';
import { parseLooseDate } from './loose-date.ts';
import { parseEmail } from './parse-email.ts';
import type { EmailAddress, ParsedEmail } from './parse-email.ts';
import { isTeamAddress } from './team-address.ts';

export interface ForwardedEmail {
  /** The teammate who forwarded. */
  forwardedBy: EmailAddress;
  /** The teammate's text above the forwarded block, trimmed ('' when none): the instruction. */
  note: string;
  /**
   * Teammates whose forwards were unwrapped to reach the original, outermost first: for Sam
   * forwarding Alex's forward of Dana's email, [Alex]. Their notes are data, not instructions.
   */
  via: EmailAddress[];
  original: {
    /**
     * Null when it is a forward but no sender address could be recovered. Then there is nobody
     * to reply to: no address is guessed, and the card says the original sender was not recovered.
     */
    from: EmailAddress | null;
    subject: string;
    date: Date | null;
    messageId: string | null;
    body: string;
    inReplyTo: string | null;
    references: string[];
    to: EmailAddress[];
    cc: EmailAddress[];
  };
  format: 'attached-rfc822' | 'inline';
}

type Original = ForwardedEmail['original'];

/** A message that may carry a forward: the email itself, or an original recovered from one. */
interface Carrier {
  from: EmailAddress | null;
  subject: string;
  text: string;
  attachedMessages: Buffer[];
}

/** Forwards inside forwards are unwrapped this deep at most. */
const MAX_NESTING = 5;

// Replies quote earlier mail under the same separators forwards use (Outlook's rule, "On …
// wrote:"); a teammate's reply with the customer in copy is not a forward. Re (most
// languages), AW (German), SV (Scandinavian), Antw (Dutch), Odp (Polish), YNT (Turkish), RES
// (Portuguese), R/RIF (Italian), Ответ (Russian), 回复/答复 (Chinese), 返信 (Japanese). Not
// Finnish "VS:": Danish Outlook writes the same prefix on forwards.
const REPLY_SUBJECT = /^\s*(?:re|aw|sv|antw|odp|ynt|res|r|rif|ответ|回复|答复|返信)\s*(?:\[\d+\])?\s*[:：]/iu;
// Subject prefixes forwards get, to fall back on when the forward shows no subject of its own.
const FORWARD_SUBJECT_PREFIX = /^\s*(?:(?:fwd?|wg|tr|rv|i|pd|enc|vs|vb|vl|doorst|videresend|redir\.?|İLT)\s*[:：]\s*)+/iu;

/**
 * The forward in a teammate's email, or null: not from a TEAM_DOMAINS address, or not a forward.
 * This reads content only; whether the sender really is a teammate is verifySender's call
 * (sender-authentication.ts), and the email store keeps a forward only from a verified one.
 * Never throws on content; throws MAIL_PARSE_FAILED only when the inline-forward parser had to
 * be stopped (hostile text), and the caller then stores the message as direct mail.
 */
export async function extractForward(email: ParsedEmail, teamDomains: readonly string[]): Promise<ForwardedEmail | null> {
  if (!email.from || !isTeamAddress(email.from.address, teamDomains)) return null;
  const forwardedBy = email.from;
  const outer = await readForward(email);
  if (!outer) return null;

  let original = outer.original;
  const via: EmailAddress[] = [];
  // A teammate forwarding a colleague's forward of a customer's email wants the customer answered.
  while (via.length < MAX_NESTING && original.from && isTeamAddress(original.from.address, teamDomains)) {
    let inner: FoundForward | null;
    try {
      inner = await readForward(original.carrier);
    } catch {
      // The colleague's message could not be read through: whoever wrote the inner mail is
      // unknown, and replying to the colleague instead would be a guess.
      via.push(original.from);
      original = { ...original, from: null };
      break;
    }
    if (!inner) break;
    via.push(original.from);
    original = inner.original;
  }

  const { carrier: _carrier, ...recovered } = original;
  if (outer.format === 'inline' && via.length === 0) {
    // Thunderbird names the message it forwarded inline; nested, it would name the wrong one.
    recovered.messageId = email.forwardedMessageId;
  }
  return { forwardedBy, note: cleanNote(outer.note), via, original: recovered, format: outer.format };
}

interface FoundForward {
  note: string;
  original: Original & { carrier: Carrier };
  format: ForwardedEmail['format'];
}

async function readForward(message: Carrier): Promise<FoundForward | null> {
  return (await fromAttachedMessage(message)) ?? (await fromInlineForward(message));
}

async function fromAttachedMessage(message: Carrier): Promise<FoundForward | null> {
  for (const raw of message.attachedMessages) {
    let inner: ParsedEmail;
    try {
      inner = await parseEmail(raw);
    } catch {
      continue;
    }
    return {
      note: message.text,
      original: {
        from: inner.from,
        subject: inner.subject,
        date: inner.date,
        // A synthetic id would not thread with anything the original sender has.
        messageId: inner.messageIdSynthetic ? null : inner.messageId,
        body: inner.text.trim(),
        inReplyTo: inner.inReplyTo,
        references: inner.references,
        to: inner.to,
        cc: inner.cc,
        carrier: inner,
      },
      format: 'attached-rfc822',
    };
  }
  return null;
}

async function fromInlineForward(message: Carrier): Promise<FoundForward | null> {
  if (REPLY_SUBJECT.test(message.subject)) return null;
  // By the body alone first: the separator lines ("---------- Forwarded message ---------",
  // "Begin forwarded message:") and the subject the forward shows. Given the subject too, the
  // library also splits at a bare "From:" (Outlook 365 writes no separator line), but only when
  // the subject says it is a forward, and it then takes the subject from that prefix.
  let found = await readInlineForward(message.text, null);
  let subjectFromPrefix = false;
  if (!found.forwarded && message.subject !== '') {
    found = await readInlineForward(message.text, message.subject);
    subjectFromPrefix = found.forwarded;
  }
  if (!found.forwarded) return null;

  const recovered = found.email;
  if (recovered.body === undefined || recovered.body === null) {
    // The subject says forward but nothing in the body could be told apart from the note.
    // All of it is treated as the forwarded text (data, not an instruction), with no sender.
    const subject = stripForwardPrefix(message.subject);
    return {
      note: '',
      original: { ...emptyOriginal(subject, message.text.trim()), carrier: { from: null, subject, text: message.text, attachedMessages: [] } },
      format: 'inline',
    };
  }

  const from = toAddress(recovered.from);
  // The library's subject is the forward's own Subject: line, or, when it went by the subject,
  // the outer subject with one prefix removed ("Fwd: Fwd: X" → "Fwd: X"). That one is kept for
  // unwrapping a nested forward; what is shown and answered loses every forward prefix.
  const ownSubject = recovered.subject?.trim() ?? '';
  const subject = subjectFromPrefix || ownSubject === '' ? stripForwardPrefix(ownSubject || message.subject) : ownSubject;
  const body = recovered.body.trim();
  return {
    note: found.message ?? '',
    original: {
      from,
      subject,
      date: recovered.date ? parseLooseDate(recovered.date) : null,
      messageId: null,
      body,
      inReplyTo: null,
      references: [],
      to: toAddresses(recovered.to),
      cc: toAddresses(recovered.cc),
      carrier: { from, subject: ownSubject || subject, text: body, attachedMessages: [] },
    },
    format: 'inline',
  };
}

function emptyOriginal(subject: string, body: string): Original {
  return { from: null, subject, date: null, messageId: null, body, inReplyTo: null, references: [], to: [], cc: [] };
}

type LibraryMailbox = NonNullable<InlineForwardResult['email']['from']>;

// The library's own check is loose ("anything@anything.anything"); an address we may reply to
// must at least have no spaces or brackets left in it.
const PLAUSIBLE_ADDRESS = /^[^\s@<>()[\],;:"]+@[^\s@<>()[\],;:"]+\.[^\s@<>()[\],;:".]+$/;

function toAddress(mailbox: LibraryMailbox | null | undefined): EmailAddress | null {
  const address = mailbox?.address?.trim().replace(/^mailto:/i, '').toLowerCase() ?? '';
  if (!PLAUSIBLE_ADDRESS.test(address)) return null;
  const name = (mailbox?.name ?? '').replace(/^["'“”]+|["'“”]+$/g, '').replace(/\s+/g, ' ').trim();
  return { address, name: name.toLowerCase() === address ? '' : name };
}

function toAddresses(value: LibraryMailbox | LibraryMailbox[] | null | undefined): EmailAddress[] {
  if (!value) return [];
  return (Array.isArray(value) ? value : [value]).map(toAddress).filter((address): address is EmailAddress => address !== null);
}

// What phones append to the teammate's note ("Sent from my iPhone" and its translations).
const MOBILE_SIGNATURE =
  /^\s*(?:Sent from my |Get Outlook for |Von meinem \S+ gesendet|Gesendet von meinem |Envoyé de mon |Enviado desde mi |Enviado do meu |Inviato da |Verzonden (?:vanaf|met) mijn |Skickat från min |Sendt fra min |Wysłane z |Odesláno z |\S+から送信\s*$)/iu;

function cleanNote(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  // Drop the teammate's own signature: it is not part of the instruction.
  const signature = lines.findIndex((line) => line === '-- ' || line === '--');
  const kept = (signature === -1 ? lines : lines.slice(0, signature)).filter((line) => !MOBILE_SIGNATURE.test(line));
  // When the forward is found at its "From:" line, the client's separator above it is still
  // here: a rule, or "-----Original Message-----" in whatever language.
  while (kept.length > 0) {
    const last = (kept.at(-1) ?? '').trim();
    if (last === '' || /^[-_=*~]{3,}$/.test(last) || /^-{2,}[^-].*[^-]-{2,}$/.test(last)) kept.pop();
    else break;
  }
  return kept.join('\n').trim();
}

function stripForwardPrefix(subject: string): string {
  return subject.replace(FORWARD_SUBJECT_PREFIX, '').trim();
}
