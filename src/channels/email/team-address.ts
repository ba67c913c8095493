/** Case-insensitive exact domain match: sub.team.example is not team.example unless listed. */
export function isTeamAddress(address: string, teamDomains: readonly string[]): boolean {
  const at = address.lastIndexOf('@');
  if (at <= 0) return false;
  const domain = normalizeDomain(address.slice(at + 1));
  if (domain === '') return false;
  return teamDomains.some((teamDomain) => normalizeDomain(teamDomain) === domain);
}

function normalizeDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/^@/, '').replace(/\.$/, '');
}
