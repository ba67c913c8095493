import { describe, expect, it } from 'vitest';
import { parseAuthenticationResults } from '../src/channels/email/authentication-results.ts';
import { parseEmail } from '../src/channels/email/parse-email.ts';
import { verifySender } from '../src/channels/email/sender-authentication.ts';

const TEAM = ['team.example'];

/** A teammate's email as it arrives: the given header lines on top (topmost first), then the rest. */
function mail(topHeaders: string[], from = 'Sam Rivera <sam@team.example>'): Buffer {
  return Buffer.from(
    [
      ...topHeaders,
      'Received: from mail.team.example by mx.team.example; Mon, 6 Jan 2025 09:20:00 +0000',
      `From: ${from}`,
      'To: ops@team.example',
      'Subject: Fwd: Rescheduling',
      'Message-ID: <verify-1@team.example>',
      '',
      'say we can do Tuesday',
    ].join('\r\n'),
  );
}

async function verdict(topHeaders: string[], options: { authservId?: string; from?: string } = {}) {
  const parsed = await parseEmail(mail(topHeaders, options.from));
  return verifySender(parsed, { teamDomains: TEAM, authservId: options.authservId });
}

describe('Authentication-Results parsing (RFC 8601)', () => {
  it('reads the authserv-id, each result, its reason and ptype.property values; comments are dropped', () => {
    const parsed = parseAuthenticationResults(
      [
        'mx.google.com;',
        '       dkim=pass header.i=@team.example header.s=google header.b=AbC+/9==;',
        '       spf=pass (google.com: domain of sam@team.example designates 209.85.220.41 as permitted sender) smtp.mailfrom=sam@team.example;',
        '       dmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from=team.example',
      ].join(' '),
    );
    expect(parsed?.authservId).toBe('mx.google.com');
    expect(parsed?.results.map((result) => `${result.method}=${result.result}`)).toEqual(['dkim=pass', 'spf=pass', 'dmarc=pass']);
    expect(parsed?.results[0]?.properties.get('header.i')).toBe('@team.example');
    expect(parsed?.results[0]?.properties.get('header.s')).toBe('google');
    expect(parsed?.results[1]?.properties.get('smtp.mailfrom')).toBe('sam@team.example');
    expect(parsed?.results[2]?.properties.get('header.from')).toBe('team.example');
  });

  it('honours quoted strings and nested comments: a ";" or "=" inside them is text', () => {
    const parsed = parseAuthenticationResults(
      'Mx.Team.Example 1 (version (nested) \\) still comment); dkim/1=Pass reason="good; key=2048" header.d=team.example (a (nested; comment) here=no); ' +
        'spf=softfail smtp.mailfrom="sam smith"@team.example; dmarc = fail header.from = team.example',
    );
    expect(parsed?.authservId).toBe('mx.team.example');
    expect(parsed?.results).toHaveLength(3);
    const [dkim, spf, dmarc] = parsed?.results ?? [];
    expect(dkim).toMatchObject({ method: 'dkim', result: 'pass', reason: 'good; key=2048' });
    expect(dkim?.properties.get('header.d')).toBe('team.example');
    expect(dkim?.properties.has('here')).toBe(false);
    expect(spf?.properties.get('smtp.mailfrom')).toBe('sam smith@team.example');
    expect(dmarc).toMatchObject({ method: 'dmarc', result: 'fail' });
    expect(dmarc?.properties.get('header.from')).toBe('team.example');
  });

  it('reads a header with no authserv-id (Microsoft 365 writes results first) and the "none" form', () => {
    const microsoft = parseAuthenticationResults(
      'spf=pass (sender IP is 40.107.92.61) smtp.mailfrom=team.example; dkim=pass (signature was verified) header.d=team.example;dmarc=pass action=none header.from=team.example;compauth=pass reason=100',
    );
    expect(microsoft?.authservId).toBeNull();
    expect(microsoft?.results.map((result) => result.method)).toEqual(['spf', 'dkim', 'dmarc', 'compauth']);
    expect(microsoft?.results[3]?.reason).toBe('100');

    expect(parseAuthenticationResults('mx.team.example; none')).toEqual({ authservId: 'mx.team.example', results: [] });
    expect(parseAuthenticationResults('')).toBeNull();
    expect(parseAuthenticationResults('  (only a comment)  ')).toBeNull();
  });
});

describe('verifying the sender', () => {
  it('a real teammate: the topmost header shows dmarc=pass for the team domain', async () => {
    const sender = await verdict(['Authentication-Results: mx.team.example; dkim=pass header.d=team.example; dmarc=pass (p=reject) header.from=team.example']);
    expect(sender).toEqual({ verified: true, teammate: true, claimedTeammate: false, description: 'dmarc=pass for team.example by mx.team.example' });
  });

  it('a spoofed teammate: the receiving server says dmarc=fail, and a pass forged lower down does not count', async () => {
    const sender = await verdict([
      'Authentication-Results: mx.team.example; spf=fail smtp.mailfrom=attacker@evil.test; dkim=none; dmarc=fail (p=none) header.from=team.example',
      'Authentication-Results: mx.team.example; dkim=pass header.d=team.example; dmarc=pass header.from=team.example',
    ]);
    expect(sender.verified).toBe(false);
    expect(sender.teammate).toBe(false);
    expect(sender.claimedTeammate).toBe(true);
    expect(sender.description).toBe('dmarc=fail for team.example by mx.team.example');
  });

  it('no Authentication-Results at all: not verified, and the reason says so', async () => {
    const sender = await verdict([]);
    expect(sender).toMatchObject({ verified: false, teammate: false, claimedTeammate: true, description: 'no Authentication-Results header' });
  });

  it('MAIL_AUTHSERV_ID picks the receiving server’s header, not whatever is on top', async () => {
    const headers = [
      // A later hop (an internal filter) that does not check DMARC, on top.
      'Authentication-Results: filter.internal.example; none',
      'Authentication-Results: mx.team.example; dmarc=pass header.from=team.example',
      // Forged by the sender: below the real one, so never the one that counts.
      'Authentication-Results: mx.team.example; dmarc=fail header.from=team.example',
    ];
    expect((await verdict(headers)).verified).toBe(false);
    expect(await verdict(headers, { authservId: 'MX.team.example' })).toMatchObject({ verified: true, teammate: true, description: 'dmarc=pass for team.example by mx.team.example' });

    // Set, and the server named wrote nothing: not verified, whatever other headers say.
    const forged = await verdict(['Authentication-Results: mx.evil.test; dmarc=pass header.from=team.example'], { authservId: 'mx.team.example' });
    expect(forged).toMatchObject({ verified: false, claimedTeammate: true, description: 'no Authentication-Results from mx.team.example' });
  });

  it('the topmost of several headers from MAIL_AUTHSERV_ID counts', async () => {
    const sender = await verdict(
      ['Authentication-Results: mx.team.example; dmarc=fail header.from=team.example', 'Authentication-Results: mx.team.example; dmarc=pass header.from=team.example'],
      { authservId: 'mx.team.example' },
    );
    expect(sender.verified).toBe(false);
  });

  it('DKIM and SPF count when aligned with the From domain (relaxed), not otherwise', async () => {
    const dkimSubdomain = await verdict(['Authentication-Results: mx.team.example; dkim=pass header.d=mail.team.example; dmarc=none']);
    expect(dkimSubdomain).toMatchObject({ verified: true, description: 'dkim=pass (header.d=mail.team.example) for team.example by mx.team.example' });

    const dkimByIdentity = await verdict(['Authentication-Results: mx.google.com; dkim=pass header.i=@team.example header.s=google']);
    expect(dkimByIdentity.verified).toBe(true);

    const spfAligned = await verdict(['Authentication-Results: mx.team.example; spf=pass smtp.mailfrom=bounces@team.example']);
    expect(spfAligned).toMatchObject({ verified: true, description: 'spf=pass (smtp.mailfrom=team.example) for team.example by mx.team.example' });

    const unaligned = await verdict([
      'Authentication-Results: mx.team.example; dkim=pass header.d=team.example.evil.test; spf=pass smtp.mailfrom=evil.test; dkim=pass header.d=example; dmarc=pass header.from=evil.test',
    ]);
    expect(unaligned.verified).toBe(false);
    expect(unaligned.description).toBe('no aligned pass (dkim=pass, spf=pass, dmarc=pass) for team.example by mx.team.example');

    const failed = await verdict(['Authentication-Results: mx.team.example; dkim=fail header.d=team.example; spf=softfail smtp.mailfrom=team.example']);
    expect(failed.verified).toBe(false);
  });

  it('an explicit dmarc=fail wins over an aligned DKIM pass (the domain’s own policy said no)', async () => {
    const sender = await verdict(['Authentication-Results: mx.team.example; dkim=pass header.d=mail.team.example; dmarc=fail (p=reject adkim=s) header.from=team.example']);
    expect(sender).toMatchObject({ verified: false, description: 'dmarc=fail for team.example by mx.team.example' });
  });

  it('two From headers are never verified: which one passed DMARC is unknown', async () => {
    const raw = Buffer.from(
      [
        'Authentication-Results: mx.team.example; dmarc=pass header.from=team.example',
        'From: Sam Rivera <sam@team.example>',
        'From: Mallory <mallory@evil.test>',
        'Subject: Fwd: x',
        '',
        'body',
      ].join('\r\n'),
    );
    const parsed = await parseEmail(raw);
    expect(parsed.fromAmbiguous).toBe(true);
    expect(verifySender(parsed, { teamDomains: TEAM })).toMatchObject({ verified: false, claimedTeammate: true });
  });

  it('outside mail is verified for its own domain, and never a teammate', async () => {
    const sender = await verdict(['Authentication-Results: mx.team.example; dmarc=pass header.from=client.example'], { from: 'Dana <dana@client.example>' });
    expect(sender).toEqual({ verified: true, teammate: false, claimedTeammate: false, description: 'dmarc=pass for client.example by mx.team.example' });
  });

  it('parseEmail keeps every Authentication-Results header, unfolded, topmost first', async () => {
    const parsed = await parseEmail(mail(['Authentication-Results: mx.team.example;\r\n\tdmarc=pass\r\n\theader.from=team.example', 'Authentication-Results: relay.example; none']));
    expect(parsed.authenticationResults).toEqual(['mx.team.example; dmarc=pass header.from=team.example', 'relay.example; none']);
  });
});
