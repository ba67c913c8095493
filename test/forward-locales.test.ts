import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { extractForward } from '../src/channels/email/forward.ts';
import { INLINE_FORWARD_TIME_LIMIT_MS } from '../src/channels/email/inline-forward-reader.ts';
import { parseEmail } from '../src/channels/email/parse-email.ts';
import { verifySender } from '../src/channels/email/sender-authentication.ts';

const TEAM_DOMAINS = ['team.example'];

async function parsed(path: string) {
  return parseEmail(readFileSync(new URL(`./fixtures/email/${path}`, import.meta.url)));
}

interface Expected {
  fixture: string;
  forwardedBy: string;
  note: string;
  from: { address: string; name: string };
  subject: string;
  bodyStarts: string;
  bodyEnds: string;
}

// Inline forwards the hand-written detector did not know, written as each client writes them.
const LOCALES: Expected[] = [
  {
    fixture: 'gmail-cs.eml',
    forwardedBy: 'petra@team.example',
    note: 'Prosím odpovězte, že zboží odeslo v pondělí.',
    from: { address: 'jan.dvorak@klient.example.cz', name: 'Jan Dvořák' },
    subject: 'Objednávka č. 2025-014',
    bodyStarts: 'Dobrý den,\n\nprosím o potvrzení termínu',
    bodyEnds: 'S pozdravem\nJan Dvořák',
  },
  {
    fixture: 'outlook-de.eml',
    forwardedBy: 'jonas.weber@team.example',
    note: 'Bitte freundlich absagen, wir bleiben beim bisherigen Anbieter.\n\nGrüße\nJonas',
    from: { address: 's.mueller@kunde.example.de', name: 'Sabine Müller' },
    subject: 'Angebot Wartungsvertrag 2025',
    bodyStarts: 'Hallo Herr Weber,\n\nanbei wie besprochen',
    bodyEnds: 'Mit freundlichen Grüßen\nSabine Müller',
  },
  {
    fixture: 'apple-mail-fr.eml',
    forwardedBy: 'camille@team.example',
    note: 'Peux-tu lui proposer un avoir de 10 % sur la prochaine commande ?\n\nCamille',
    from: { address: 'luc.bernard@client.example.fr', name: 'Luc Bernard' },
    subject: 'Retard de livraison – commande 7731',
    bodyStarts: 'Bonjour Camille,\n\nLa commande 7731 devait arriver lundi',
    bodyEnds: 'Cordialement,\nLuc Bernard',
  },
  {
    fixture: 'thunderbird-es.eml',
    forwardedBy: 'lucia@team.example',
    note: 'Confírmale que anulamos la factura duplicada y que no tiene que pagar nada.',
    from: { address: 'carlos.ruiz@cliente.example.es', name: 'Carlos Ruiz' },
    subject: 'Factura duplicada nº 3321',
    bodyStarts: 'Buenas tardes:\n\nHemos recibido dos veces la factura nº 3321',
    bodyEnds: 'Un saludo,\nCarlos Ruiz',
  },
  {
    fixture: 'yahoo-it.eml',
    forwardedBy: 'giulia@team.example',
    note: 'Rispondi che possiamo fare il sopralluogo giovedì mattina.',
    from: { address: 'marco.bianchi@cliente.example.it', name: 'Marco Bianchi' },
    subject: 'Richiesta preventivo installazione',
    bodyStarts: 'Buongiorno,\nci servirebbe un preventivo',
    bodyEnds: 'Grazie,\nMarco Bianchi',
  },
  {
    fixture: 'thunderbird-nl.eml',
    forwardedBy: 'daan@team.example',
    note: 'Graag excuses aanbieden en melden dat het probleem sinds 13:00 is opgelost.',
    from: { address: 'sanne.visser@klant.example.nl', name: 'Sanne Visser' },
    subject: 'Storing in de klantportal',
    bodyStarts: 'Hallo,\n\nSinds vanochtend kunnen wij niet meer inloggen',
    bodyEnds: 'Met vriendelijke groet,\nSanne Visser',
  },
  {
    fixture: 'apple-mail-pl.eml',
    forwardedBy: 'tomasz@team.example',
    // "Wysłane z iPhone’a" (Sent from my iPhone) is the phone's, not the teammate's words.
    note: 'Potwierdź proszę nowy termin, czwartek 10:00 nam pasuje.',
    from: { address: 'anna.wisniewska@klient.example.pl', name: 'Anna Wiśniewska' },
    subject: 'Zmiana terminu spotkania',
    bodyStarts: 'Dzień dobry,\n\nczy możemy przesunąć nasze spotkanie',
    bodyEnds: 'Pozdrawiam\nAnna Wiśniewska',
  },
  {
    fixture: 'gmail-ja.eml',
    forwardedBy: 'kenji@team.example',
    note: '来週の会議までに見積もりを送ると返信してください。',
    from: { address: 'misaki.sato@kaisha.example.jp', name: '佐藤 美咲' },
    subject: '見積もりのご依頼',
    bodyStarts: '山田様\n\nいつもお世話になっております。',
    bodyEnds: '佐藤 美咲',
  },
  {
    fixture: 'outlook-es.eml',
    forwardedBy: 'javier.torres@team.example',
    note: 'Responde que el contrato incluye soporte 24/7 desde el 1 de febrero.\n\nJavier',
    from: { address: 'elena.navarro@empresa.example.es', name: 'Elena Navarro' },
    subject: 'Consulta sobre el contrato de soporte',
    bodyStarts: 'Hola Javier:\n\n¿El contrato de soporte incluye atención fuera del horario de oficina?',
    bodyEnds: 'Gracias,\nElena Navarro',
  },
  {
    fixture: 'outlook365-sv.eml',
    forwardedBy: 'erik.lindqvist@team.example',
    note: 'Skicka de saknade artiklarna med expressfrakt, vi står för kostnaden.\n\n/Erik',
    from: { address: 'karin.berg@kund.example.se', name: 'Karin Berg' },
    subject: 'Fel i leveransen, order 5520',
    bodyStarts: 'Hej Erik,\n\nI leveransen för order 5520 saknades',
    bodyEnds: 'Med vänliga hälsningar\nKarin Berg',
  },
  {
    fixture: 'thunderbird-pl.eml',
    forwardedBy: 'marta@team.example',
    note: 'Odpisz, że wymienimy drukarkę na nową w ciągu 5 dni roboczych.',
    from: { address: 'piotr.lewandowski@firma.example.pl', name: 'Piotr Lewandowski' },
    subject: 'Reklamacja drukarki',
    bodyStarts: 'Dzień dobry,\n\ndrukarka kupiona w grudniu',
    bodyEnds: 'Piotr Lewandowski',
  },
];

describe('inline forwards from more clients and locales', () => {
  it.each(LOCALES)('$fixture: original sender, subject and body recovered; the note is the teammate’s', async (expected) => {
    const email = await parsed(`locales/${expected.fixture}`);
    // Each fixture arrives with a passing DMARC verdict from the receiving server.
    expect(verifySender(email, { teamDomains: TEAM_DOMAINS }).teammate).toBe(true);

    const forward = await extractForward(email, TEAM_DOMAINS);
    expect(forward?.format).toBe('inline');
    expect(forward?.forwardedBy.address).toBe(expected.forwardedBy);
    expect(forward?.note).toBe(expected.note);
    expect(forward?.original.from).toEqual(expected.from);
    expect(forward?.original.subject).toBe(expected.subject);
    expect(forward?.original.body.startsWith(expected.bodyStarts)).toBe(true);
    expect(forward?.original.body.endsWith(expected.bodyEnds)).toBe(true);
    // The forwarded text never leaks into the instruction.
    expect(forward?.note).not.toContain(expected.bodyStarts.split('\n')[0] ?? '');
    expect(forward?.via).toEqual([]);
  });

  it('recovers the dates it can read, and the Message-ID Thunderbird names in X-Forwarded-Message-Id', async () => {
    const thunderbird = await extractForward(await parsed('locales/thunderbird-es.eml'), TEAM_DOMAINS);
    expect(thunderbird?.original.date?.toISOString()).toBe('2025-01-09T16:03:55.000Z');
    expect(thunderbird?.original.messageId).toBe('<0f1e2d3c4b5a@correo.cliente.example.es>');
    const outlook = await extractForward(await parsed('locales/outlook-de.eml'), TEAM_DOMAINS);
    expect(outlook?.original.cc).toEqual([{ address: 'einkauf@kunde.example.de', name: 'Einkauf' }]);
    expect(outlook?.original.messageId).toBeNull();
  });
});

describe('a forward of a forward', () => {
  it('answers the innermost sender outside the team; the colleague in between is recorded, not answered', async () => {
    const forward = await extractForward(await parsed('forward-of-forward.eml'), TEAM_DOMAINS);
    expect(forward?.forwardedBy.address).toBe('sam@team.example');
    expect(forward?.note).toBe('Tell Dana Tuesday 2pm works for us.');
    expect(forward?.via).toEqual([{ address: 'alex@team.example', name: 'Alex Kim' }]);
    expect(forward?.original.from).toEqual({ address: 'dana@client.example', name: 'Dana Client' });
    expect(forward?.original.subject).toBe('Rescheduling our kickoff');
    expect(forward?.original.body).toBe('Hi Alex,\n\nThursday no longer works for the kickoff. Could we move it to Tuesday?\n\nThanks,\nDana');
    // Alex's note is inside the forwarded text: data, never part of the instruction.
    expect(forward?.note).not.toContain('Ignore my old notes');
  });

  it('unwraps a colleague’s inline forward that arrived as an attachment', async () => {
    const colleaguesForward = [
      'From: Alex Kim <alex@team.example>',
      'To: Sam Rivera <sam@team.example>',
      'Subject: Fwd: Invoice 7781',
      'Message-ID: <alex-fwd-1@team.example>',
      '',
      'FYI',
      '',
      '---------- Forwarded message ---------',
      'From: Dana Client <dana@client.example>',
      'Date: Mon, Jan 6, 2025 at 9:14 AM',
      'Subject: Invoice 7781',
      'To: Alex Kim <alex@team.example>',
      '',
      '',
      'Where is the invoice?',
    ].join('\r\n');
    const raw = Buffer.from(
      [
        'Authentication-Results: mx.team.example; dmarc=pass header.from=team.example',
        'From: Sam Rivera <sam@team.example>',
        'To: ops@team.example',
        'Subject: Fwd: Invoice 7781',
        'Message-ID: <sam-fwd-1@team.example>',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b1"',
        '',
        '--b1',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'please send it today',
        '--b1',
        'Content-Type: message/rfc822',
        'Content-Disposition: attachment; filename="Fwd: Invoice 7781.eml"',
        '',
        colleaguesForward,
        '--b1--',
        '',
      ].join('\r\n'),
    );
    const forward = await extractForward(await parseEmail(raw), TEAM_DOMAINS);
    expect(forward?.format).toBe('attached-rfc822');
    expect(forward?.note).toBe('please send it today');
    expect(forward?.via.map((teammate) => teammate.address)).toEqual(['alex@team.example']);
    expect(forward?.original.from?.address).toBe('dana@client.example');
    expect(forward?.original.body).toBe('Where is the invoice?');
  });

  it('a teammate forwarding a colleague’s own email answers the colleague', async () => {
    const raw = Buffer.from(
      [
        'From: Sam Rivera <sam@team.example>',
        'Subject: Fwd: Team offsite',
        '',
        'can you book it?',
        '',
        '---------- Forwarded message ---------',
        'From: Alex Kim <alex@team.example>',
        'Date: Mon, Jan 6, 2025 at 9:14 AM',
        'Subject: Team offsite',
        'To: Sam Rivera <sam@team.example>',
        '',
        '',
        'Shall we do the offsite in March?',
      ].join('\r\n'),
    );
    const forward = await extractForward(await parseEmail(raw), TEAM_DOMAINS);
    expect(forward?.original.from?.address).toBe('alex@team.example');
    expect(forward?.via).toEqual([]);
  });
});

describe('hostile text', () => {
  it(
    'a body that would keep the parser busy for minutes is given up on in seconds, and the next forward is read',
    async () => {
      // A "From:" followed by a long run of blank lines makes the library's expressions backtrack.
      const hostile = await parseEmail(Buffer.from(`From: Sam Rivera <sam@team.example>\r\nSubject: Fwd: x\r\n\r\nFrom:${'\n'.repeat(65_536)}x`));
      const started = Date.now();
      await expect(extractForward(hostile, TEAM_DOMAINS)).rejects.toMatchObject({ code: 'MAIL_PARSE_FAILED' });
      expect(Date.now() - started).toBeLessThan(INLINE_FORWARD_TIME_LIMIT_MS * 3);

      const next = await extractForward(await parsed('locales/gmail-cs.eml'), TEAM_DOMAINS);
      expect(next?.original.from?.address).toBe('jan.dvorak@klient.example.cz');
    },
    INLINE_FORWARD_TIME_LIMIT_MS * 5,
  );
});
