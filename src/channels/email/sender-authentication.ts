/**
 * Decides whether an email's From address can be believed. A From header is whatever the
 * sender typed; only the receiving server's Authentication-Results says whether the From
 * domain was authenticated. A teammate is who the server says, not who the header says: only
 * a verified sender in TEAM_DOMAINS has their note read as an instruction.
 *
 * Which Authentication-Results header counts: with MAIL_AUTHSERV_ID set, the topmost one written
 * by that authserv-id; unset, the topmost one. Every server adds its header on top, so the
 * topmost is the receiving server's and anything lower may have come with the message, forged
 * by its sender.
 *
 * Aligned means (DMARC's relaxed alignment, without a public-suffix list):
 *  - dmarc=pass whose header.from is the From domain;
 *  - dkim=pass whose header.d (or the domain of header.i) is the From domain, a parent or a
 *    subdomain of it;
 *  - spf=pass whose smtp.mailfrom domain is the From domain, a parent or a subdomain of it.
 * An explicit dmarc=fail for the From domain wins over everything: the domain's owner has said
 * this mail is not theirs (e.g. strict alignment), and that is not second-guessed here.
 */
import { parseAuthenticationResults } from './authentication-results.ts';
import type { AuthenticationResult, AuthenticationResults } from './authentication-results.ts';
import { isTeamAddress } from './team-address.ts';
import type { ParsedEmail } from './parse-email.ts';

export interface SenderVerification {
  /** The receiving server authenticated the From domain (an aligned pass). */
  verified: boolean;
  /** Verified and in TEAM_DOMAINS: only such a sender's forwards carry instructions. */
  teammate: boolean;
  /** From is in TEAM_DOMAINS but could not be verified: handled as outside mail, and the card says so. */
  claimedTeammate: boolean;
  /** Why, for people and the audit log: "dmarc=pass for acme.com by mx.acme.com". */
  description: string;
}

export interface SenderAuthenticationOptions {
  teamDomains: readonly string[];
  /** MAIL_AUTHSERV_ID: the receiving server's authserv-id. Unset: the topmost header counts. */
  authservId?: string | undefined;
}

/** Headers past this many are not looked at; a real message has a handful. */
const MAX_HEADERS = 100;

export function verifySender(email: Pick<ParsedEmail, 'from' | 'fromAmbiguous' | 'authenticationResults'>, options: SenderAuthenticationOptions): SenderVerification {
  const claimed = email.from !== null && isTeamAddress(email.from.address, options.teamDomains);
  const outcome = (verified: boolean, description: string): SenderVerification => ({
    verified,
    teammate: verified && claimed,
    claimedTeammate: claimed && !verified,
    description,
  });

  if (!email.from) return outcome(false, 'no From address');
  const fromDomain = domainOf(email.from.address);
  if (fromDomain === '') return outcome(false, `no domain in From address ${email.from.address}`);
  if (email.fromAmbiguous) return outcome(false, 'several From addresses: cannot tell which one was authenticated');

  const wanted = options.authservId?.trim().toLowerCase() || null;
  const selected = selectHeader(email.authenticationResults, wanted);
  const by = wanted ?? selected?.parsed?.authservId ?? 'the receiving server';
  if (!selected) return outcome(false, wanted ? `no Authentication-Results from ${wanted}` : 'no Authentication-Results header');
  if (!selected.parsed) return outcome(false, `Authentication-Results from ${by} could not be read`);

  const verdict = judge(selected.parsed.results, fromDomain);
  return outcome(verdict.pass, `${verdict.text} for ${fromDomain} by ${by}`);
}

function selectHeader(values: readonly string[], wanted: string | null): { parsed: AuthenticationResults | null } | null {
  if (wanted === null) {
    const topmost = values[0];
    return topmost === undefined ? null : { parsed: parseAuthenticationResults(topmost) };
  }
  for (const value of values.slice(0, MAX_HEADERS)) {
    const parsed = parseAuthenticationResults(value);
    if (parsed?.authservId === wanted) return { parsed };
  }
  return null;
}

function judge(results: readonly AuthenticationResult[], fromDomain: string): { pass: boolean; text: string } {
  const dmarc = results.filter((result) => result.method === 'dmarc');
  const dmarcFor = (result: AuthenticationResult): string | null => domainValue(result.properties.get('header.from'));

  const failed = dmarc.find((result) => result.result === 'fail' && (dmarcFor(result) === null || dmarcFor(result) === fromDomain));
  if (failed) return { pass: false, text: 'dmarc=fail' };

  if (dmarc.some((result) => result.result === 'pass' && dmarcFor(result) === fromDomain)) return { pass: true, text: 'dmarc=pass' };

  for (const result of results) {
    if (result.method !== 'dkim' || result.result !== 'pass') continue;
    const signer = domainValue(result.properties.get('header.d')) ?? domainValue(result.properties.get('header.i'));
    if (signer !== null && aligned(signer, fromDomain)) return { pass: true, text: `dkim=pass (header.d=${signer})` };
  }
  for (const result of results) {
    if (result.method !== 'spf' || result.result !== 'pass') continue;
    const envelope = domainValue(result.properties.get('smtp.mailfrom'));
    if (envelope !== null && aligned(envelope, fromDomain)) return { pass: true, text: `spf=pass (smtp.mailfrom=${envelope})` };
  }

  const seen = results.filter((result) => ['dmarc', 'dkim', 'spf'].includes(result.method)).map((result) => `${result.method}=${result.result}`);
  return { pass: false, text: seen.length === 0 ? 'no DMARC, DKIM or SPF result' : `no aligned pass (${[...new Set(seen)].join(', ')})` };
}

/**
 * Relaxed alignment: the same domain, or one a subdomain of the other. The shared part must
 * have two labels at least, so `com` never aligns with everything under it.
 */
function aligned(a: string, b: string): boolean {
  if (a === b) return true;
  const [longer, shorter] = a.length > b.length ? [a, b] : [b, a];
  return shorter.includes('.') && longer.endsWith(`.${shorter}`);
}

/** "acme.com", "sam@acme.com", "@acme.com", "<sam@acme.com>" → "acme.com"; null when there is no domain. */
function domainValue(value: string | undefined): string | null {
  if (value === undefined) return null;
  const domain = domainOf(value.replace(/^<|>$/g, ''));
  return domain === '' ? null : domain;
}

function domainOf(address: string): string {
  return address
    .slice(address.lastIndexOf('@') + 1)
    .trim()
    .toLowerCase()
    .replace(/\.$/, '');
}
