import { createBuiltinEmbedder } from '../../src/brains/builtin/builtin-embedder.ts';
import { seededRandom, type Random } from '../../test/drills/random.ts';

/**
 * How fast the built-in embedder encodes mail-like English, for the memory bench to weigh
 * against the ingest rate. The encoder's cost grows with text length, so a typical email
 * section (~200 words) and a typical query or subject line (~20 words) are measured apart.
 * Each figure is from a warm worker (loaded, one batch already encoded), one call for all
 * texts, batched by the embedder as in the service.
 */
export interface EmbedderRate {
  textsPerSecond200Words: number;
  textsPerSecond20Words: number;
  /** Cold first call: worker thread start, model load and one short text. */
  loadMs: number;
  /** The process's resident memory with the model loaded in its worker (threads share it). */
  rssMbLoaded?: number;
}

const LONG_TEXTS = 64;
const SHORT_TEXTS = 200;
const SEED = 1;

export async function measureEmbedderRate(): Promise<EmbedderRate> {
  const random = seededRandom(SEED, 'embedder-rate');
  const long = Array.from({ length: LONG_TEXTS }, () => email(random, 200));
  const short = Array.from({ length: SHORT_TEXTS }, () => email(random, 20));
  // No idle stop in the middle of a measurement.
  const embedder = createBuiltinEmbedder({ idleMs: 600_000 });
  try {
    let started = performance.now();
    await embedder.embed(['warming up the built-in embedder']);
    const loadMs = performance.now() - started;
    await embedder.embed(Array.from({ length: 16 }, () => email(random, 100)));

    started = performance.now();
    const longVectors = await embedder.embed(long);
    const longSeconds = (performance.now() - started) / 1000;
    const rssMbLoaded = process.memoryUsage().rss / 1024 / 1024;

    started = performance.now();
    const shortVectors = await embedder.embed(short);
    const shortSeconds = (performance.now() - started) / 1000;

    if (longVectors.length !== long.length || shortVectors.length !== short.length) throw new Error('the built-in embedder returned fewer vectors than texts');
    return {
      textsPerSecond200Words: round(long.length / longSeconds),
      textsPerSecond20Words: round(short.length / shortSeconds),
      loadMs: Math.round(loadMs),
      rssMbLoaded: Math.round(rssMbLoaded),
    };
  } finally {
    await embedder.close();
  }
}

const NAMES = ['Dana', 'Marco', 'Priya', 'Jonas', 'Aiko', 'Sam', 'Lucía', 'Tom'];
const THINGS = ['invoice', 'order', 'shipment', 'contract', 'quote', 'ticket', 'delivery', 'booking', 'renewal', 'refund', 'report', 'purchase order'];
const SUBJECTS = ['the chairs', 'the office move', 'our Berlin team', 'the March delivery', 'the new laptops', 'the annual licence', 'the catering', 'the warehouse in Leeds', 'the support plan', 'the trade fair stand'];
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'next week', 'the end of the month', 'tomorrow morning'];
const TEMPLATES: ((random: Random) => string)[] = [
  (r) => `Could you confirm the ${r.pick(THINGS)} for ${r.pick(SUBJECTS)} by ${r.pick(DAYS)}?`,
  (r) => `The ${r.pick(THINGS)} number ${r.int(1000, 99999)} is still open and our accounts team has asked twice.`,
  (r) => `We would like to move the call about ${r.pick(SUBJECTS)} to ${r.pick(DAYS)} if that works for you.`,
  (r) => `${r.pick(NAMES)} mentioned that the ${r.pick(THINGS)} was sent to the wrong address.`,
  (r) => `Please find attached the updated ${r.pick(THINGS)}; the total is now ${r.int(120, 9800)} euros including tax.`,
  (r) => `As discussed, the price for ${r.pick(SUBJECTS)} stays the same until ${r.pick(DAYS)}.`,
  (r) => `Unfortunately the courier could not deliver ${r.pick(SUBJECTS)} because nobody was at reception.`,
  (r) => `Let me know whether you need anything else from us before ${r.pick(DAYS)}.`,
  (r) => `Our records show a payment of ${r.int(50, 5000)} euros against the ${r.pick(THINGS)}, but the remainder is overdue.`,
  (r) => `Is there someone on your side who can sign off the ${r.pick(THINGS)} while ${r.pick(NAMES)} is away?`,
];

/** About `words` words: a greeting, mail-like sentences, and a sign-off, cut to length. */
function email(random: Random, words: number): string {
  const parts = [`Hi ${random.pick(NAMES)},`];
  while (parts.join(' ').split(' ').length < words) parts.push(random.pick(TEMPLATES)(random));
  parts.push(`Thanks, ${random.pick(NAMES)}`);
  return parts.join(' ').split(' ').slice(0, words).join(' ');
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
