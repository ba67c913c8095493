// Dates. Forwarded header blocks carry dates in each client's display format ("Mon, Jan 6, 2025
// at 9:14 AM", "Monday, January 6, 2025 9:14 AM", "January 6, 2025 at 9:14:32 AM PST"), and
// real Date headers are not always RFC 5322. Parsed by components so that a date without a time
// zone means UTC on every machine, instead of whatever zone the server happens to run in.

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const ZONE_OFFSETS_MINUTES: Record<string, number> = {
  UT: 0, UTC: 0, GMT: 0, Z: 0, WET: 0, BST: 60, CET: 60, CEST: 120, EET: 120, EEST: 180,
  EST: -300, EDT: -240, CST: -360, CDT: -300, MST: -420, MDT: -360, PST: -480, PDT: -420,
  AKST: -540, AKDT: -480, HST: -600, JST: 540, KST: 540, AEST: 600, AEDT: 660,
};

/** Parses a date written by a mail client or in a header; null when it cannot be understood. */
export function parseLooseDate(value: string): Date | null {
  if (value.length > 500) return null;
  const text = value
    .replace(/\([^()]*\)/g, ' ')
    .replace(/\s+at\s+/gi, ' ')
    .replace(/[\s\u00a0\u202f]+/g, ' ')
    .trim();
  if (text === '' || text.length > 200) return null;
  const byParts = parseDateParts(text);
  if (byParts !== undefined) return byParts;
  // Formats the component parser does not know ("06/01/2025"): the engine's own parser, kept to
  // plausible years because it accepts almost anything with a digit in it.
  const fallback = new Date(text);
  const year = fallback.getUTCFullYear();
  return Number.isNaN(fallback.getTime()) || year < 1970 || year > 2100 ? null : fallback;
}

/** undefined: not a shape this parser knows; null: a date that does not exist (February 30). */
function parseDateParts(text: string): Date | null | undefined {
  let rest = text;
  let year: number | undefined;
  let month: number | undefined;
  let day: number | undefined;

  const iso = /\b(\d{4})-(\d{1,2})-(\d{1,2})(?=[T\s]|$)T?/.exec(rest);
  if (iso) {
    year = Number(iso[1]);
    month = Number(iso[2]) - 1;
    day = Number(iso[3]);
    rest = rest.replace(iso[0], ' ');
  }

  let hours = 0;
  let minutes = 0;
  let seconds = 0;
  const time = /\b(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(?:\s*([ap])\.?\s?m\.?(?![a-z]))?/i.exec(rest);
  if (time) {
    hours = Number(time[1]);
    minutes = Number(time[2]);
    seconds = Number(time[3] ?? 0);
    const meridiem = time[4]?.toLowerCase();
    if (meridiem !== undefined) {
      if (hours < 1 || hours > 12) return null;
      if (meridiem === 'a' && hours === 12) hours = 0;
      if (meridiem === 'p' && hours !== 12) hours += 12;
    }
    rest = rest.slice(0, time.index) + ' ' + rest.slice(time.index + time[0].length);
  }

  let offset = 0;
  const numericZone = /(?:\b(?:GMT|UTC))?([+-])(\d{1,2}):?(\d{2})?\b/.exec(rest);
  const namedZone = /\b([A-Z]{1,5})\b/g;
  if (numericZone && (time !== null || iso !== null)) {
    const sign = numericZone[1] === '-' ? -1 : 1;
    offset = sign * (Number(numericZone[2]) * 60 + Number(numericZone[3] ?? 0));
    rest = rest.replace(numericZone[0], ' ');
  } else {
    for (const match of rest.matchAll(namedZone)) {
      const zone = ZONE_OFFSETS_MINUTES[match[1] ?? ''];
      if (zone !== undefined) {
        offset = zone;
        break;
      }
    }
  }

  if (year === undefined) {
    const monthName = /\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?/i.exec(rest);
    const yearMatch = /\b(\d{4})\b/.exec(rest);
    if (!monthName?.[1] || !yearMatch) return undefined;
    month = MONTHS.indexOf(monthName[1].toLowerCase());
    year = Number(yearMatch[1]);
    rest = rest.replace(monthName[0], ' ').replace(yearMatch[0], ' ');
    const dayMatch = /\b(\d{1,2})(?:st|nd|rd|th)?\b/i.exec(rest);
    if (!dayMatch) return undefined;
    day = Number(dayMatch[1]);
  }
  if (month === undefined || day === undefined) return undefined;

  if (hours > 23 || minutes > 59 || seconds > 60 || month < 0 || month > 11 || day < 1) return null;
  const utc = Date.UTC(year, month, day, hours, minutes, Math.min(seconds, 59));
  const check = new Date(utc);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month) return null;
  return new Date(utc - offset * 60_000);
}
