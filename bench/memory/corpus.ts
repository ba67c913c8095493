import { createHash } from 'node:crypto';
import { seededRandom, type Random } from '../../test/drills/random.ts';

/**
 * A generated team memory, deterministic from a seed, shaped so both halves of hybrid search
 * have realistic work:
 *
 * - Text: tokens from one Zipf (s = 1) vocabulary of 4,000 words whose top 113 ranks are English
 *   stop words (dropped by to_tsvector, as in mail) and the rest pseudo-words, so a content word
 *   is in ~8 % (the commonest) down to ~0.2 % (the rarest) of chunks. Each vector cluster also
 *   has 8 topic words mixed in (8 % of tokens), so text and meaning agree somewhat, as they do in
 *   real memory.
 * - Vectors: clustered. Topics → clusters (unit centroids) → items → chunks, each level adding
 *   Gaussian noise whose spectrum falls off as 1/√rank along a per-cluster random set of axes
 *   (an intrinsic dimension of ~30 rather than 512). Isotropic noise in 512 dimensions makes
 *   every distance inside a cluster nearly equal, which makes top-10 recall meaningless, just as
 *   uniform random vectors do.
 * - Queries: a chunk of the table chosen in advance, perturbed (so never in the table), and 2–5
 *   content words drawn from the distribution that chunk's words came from (its cluster's).
 *
 * Items have 1–4 chunks (mean 2), one kind each (email 60 %, slack_message 30 %, fact 10 %), a
 * counterparty from a Zipf-popular set of 500 addresses, and an occurred_at spread over 2025.
 */
export interface CorpusOptions {
  chunks: number;
  seed: number;
  dimensions: number;
  /** Unfiltered queries (latency, recall). */
  queries: number;
  /** Queries for each filtered kind (kinds, person, date). */
  filteredQueries: number;
}

export interface ItemColumns {
  ids: string[];
  kinds: string[];
  titles: string[];
  contents: string[];
  sourceTypes: string[];
  sourceRefs: string[];
  authors: (string | null)[];
  occurredAt: string[];
  counterparties: (string | null)[];
  contentHashes: string[];
}

export interface ChunkColumns {
  ids: string[];
  itemIds: string[];
  positions: number[];
  texts: string[];
  /** pgvector text form. */
  vectors: string[];
}

export interface Batch {
  items: ItemColumns;
  chunks: ChunkColumns;
}

export interface Query {
  text: string;
  vector: number[];
  /** The chunk (in the table) the vector was perturbed from. */
  sourceChunkId: string;
}

export interface PersonQuery extends Query {
  person: string;
  /** The person's share of all items. */
  personShare: number;
}

export interface QuerySet {
  plain: Query[];
  kinds: Query[];
  date: Query[];
  personCommon: PersonQuery[];
  personUncommon: PersonQuery[];
}

export const KIND_SHARES = { email: 0.6, slack_message: 0.3, fact: 0.1 } as const;
/** The date filter's lower bound: the last month of the year items are spread over (~8.5 %). */
export const DATE_FILTER_AFTER = new Date('2025-12-01T00:00:00Z');
const YEAR_START = Date.parse('2025-01-01T00:00:00Z');
const YEAR_MS = 365 * 24 * 3600 * 1000;

const TOPICS = 64;
const TOPIC_WORDS_PER_CLUSTER = 8;
const TOPIC_WORD_RATE = 0.08;
const VOCABULARY = 4000;
const COUNTERPARTIES = 500;
/** Norms of the noise each level adds (before normalising). */
const ITEM_NOISE = 0.75;
const CHUNK_NOISE = 0.35;
const QUERY_NOISE = 0.35;
const CENTROID_SPREAD = 0.9;

/** English function words (all in PostgreSQL's english stop list): the top Zipf ranks. */
const STOP_WORDS = (
  'the of and to a in is it you that he was for on are with as i his they be at one have this from or had by but some what there we can out other were all ' +
  'your when up use how said an each she which do their if will about many then them these so would her him into has more two could no my than been who its ' +
  'did down only were our over me after most also before should here both very just being under those while same again few own because against between through ' +
  'during until off any once where why such nor too further above below'
)
  .split(' ')
  .filter((word, index, all) => all.indexOf(word) === index);

const FIRST_NAMES = ['dana', 'marco', 'priya', 'jonas', 'aiko', 'sam', 'lucia', 'tom', 'nina', 'omar', 'greta', 'ivan', 'mei', 'pablo', 'sara', 'felix', 'hana', 'luca', 'zoe', 'kofi', 'elif', 'raj', 'ines', 'noah', 'ada'];
const LAST_NAMES = ['weber', 'rossi', 'shah', 'berg', 'tanaka', 'okafor', 'garcia', 'novak', 'kim', 'silva', 'moreau', 'jansen', 'lund', 'costa', 'haddad', 'meyer', 'brandt', 'ito', 'ferreira', 'quinn'];
const COMPANIES = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka', 'tyrell', 'cyberdyne', 'soylent', 'vandelay', 'dunder', 'oscorp', 'gringotts'];

/** Standard normal values from a seeded stream (Box-Muller, both values of each pair used). */
export class Gaussian {
  private spare = 0;
  private hasSpare = false;
  constructor(private readonly random: Random) {}
  next(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - this.random.next()));
    const angle = 2 * Math.PI * this.random.next();
    this.spare = radius * Math.sin(angle);
    this.hasSpare = true;
    return radius * Math.cos(angle);
  }
}

function normalise(vector: Float64Array): Float64Array {
  let norm = 0;
  for (let index = 0; index < vector.length; index++) norm += (vector[index] as number) * (vector[index] as number);
  norm = Math.sqrt(norm);
  for (let index = 0; index < vector.length; index++) vector[index] = (vector[index] as number) / norm;
  return vector;
}

function uuid(random: Random): string {
  const hex = Array.from({ length: 4 }, () => (Math.floor(random.next() * 0x1_0000_0000) >>> 0).toString(16).padStart(8, '0')).join('');
  const variant = ((parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Cumulative weights for O(log n) sampling of a fixed discrete distribution. */
class Sampler {
  private readonly cumulative: Float64Array;
  constructor(weights: readonly number[]) {
    this.cumulative = new Float64Array(weights.length);
    let sum = 0;
    weights.forEach((weight, index) => {
      sum += weight;
      this.cumulative[index] = sum;
    });
  }
  get total(): number {
    return this.cumulative[this.cumulative.length - 1] ?? 0;
  }
  sample(random: Random): number {
    const target = random.next() * this.total;
    let low = 0;
    let high = this.cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.cumulative[middle] ?? 0) <= target) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

function pseudoWords(random: Random, count: number, exclude: ReadonlySet<string>): string[] {
  const onsets = ['b', 'c', 'd', 'f', 'g', 'h', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'w', 'z', 'br', 'st', 'tr', 'pl', 'gr', 'sh', 'ch'];
  const vowels = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou', 'ea'];
  const codas = ['', '', '', 'n', 'r', 'l', 'm', 'x'];
  const words = new Set<string>();
  while (words.size < count) {
    const syllables = random.int(2, 3);
    let word = '';
    for (let index = 0; index < syllables; index++) word += random.pick(onsets) + random.pick(vowels) + (index === syllables - 1 ? random.pick(codas) : '');
    if (!exclude.has(word)) words.add(word);
  }
  return [...words];
}

interface Cluster {
  centroid: Float64Array;
  /** Noise standard deviation per axis for a unit-norm noise vector (1/√rank on shuffled axes). */
  sigma: Float64Array;
  topicWords: number[];
}

export class Corpus {
  readonly options: CorpusOptions;
  readonly clusters: Cluster[];
  readonly vocabulary: string[];
  readonly stopWordCount: number;
  readonly counterparties: string[];
  /** Items per counterparty, filled as the corpus is generated. */
  readonly counterpartyItems = new Map<string, number>();
  itemsGenerated = 0;
  private readonly words: Sampler;
  private readonly people: Sampler;
  private readonly querySources: Map<number, number[]>;
  private readonly queryRandom: Random;
  private readonly queryGaussian: Gaussian;
  private readonly pendingQueries: { slot: number; query: Query }[] = [];
  /** Up to 256 chunk vectors spread over the corpus, to compare query distances with. */
  readonly sampleVectors: Float64Array[] = [];

  constructor(options: CorpusOptions) {
    this.options = options;
    const structure = seededRandom(options.seed, 'memory-structure');
    const dims = options.dimensions;
    const stop = new Set(STOP_WORDS);
    this.stopWordCount = STOP_WORDS.length;
    this.vocabulary = [...STOP_WORDS, ...pseudoWords(structure, VOCABULARY - STOP_WORDS.length, stop)];
    this.words = new Sampler(this.vocabulary.map((_, rank) => 1 / (rank + 1)));

    const structureGaussian = new Gaussian(structure);
    const randomUnit = () => normalise(Float64Array.from({ length: dims }, () => structureGaussian.next()));
    const topics = Array.from({ length: TOPICS }, randomUnit);
    const clusterCount = Math.min(5000, Math.max(1000, Math.round(options.chunks / 250)));
    const axes = Array.from({ length: dims }, (_, index) => index);
    const spectrum = Float64Array.from({ length: dims }, (_, rank) => 1 / Math.sqrt(rank + 1));
    const spectrumNorm = Math.sqrt(spectrum.reduce((sum, value) => sum + value * value, 0));
    this.clusters = Array.from({ length: clusterCount }, () => {
      const topic = structure.pick(topics);
      const offset = randomUnit();
      const centroid = normalise(Float64Array.from({ length: dims }, (_, index) => (topic[index] ?? 0) + CENTROID_SPREAD * (offset[index] ?? 0)));
      const sigma = new Float64Array(dims);
      structure.shuffle(axes).forEach((axis, rank) => (sigma[axis] = (spectrum[rank] ?? 0) / spectrumNorm));
      const topicWords = Array.from({ length: TOPIC_WORDS_PER_CLUSTER }, () => structure.int(this.stopWordCount + 100, VOCABULARY - 1));
      return { centroid, sigma, topicWords };
    });

    this.counterparties = [];
    const taken = new Set<string>();
    while (this.counterparties.length < COUNTERPARTIES) {
      const address = `${structure.pick(FIRST_NAMES)}.${structure.pick(LAST_NAMES)}@${structure.pick(COMPANIES)}.example`;
      // No address inside another, so a person filter matches exactly one counterparty.
      if (taken.has(address) || [...taken].some((other) => other.includes(address) || address.includes(other))) continue;
      taken.add(address);
      this.counterparties.push(address);
    }
    this.people = new Sampler(this.counterparties.map((_, rank) => 1 / (rank + 1)));

    // Which chunks queries start from: chosen up front, from their own stream, so the corpus
    // stream is the same whatever the number of queries.
    const picks = seededRandom(options.seed, 'memory-query-sources');
    const slots = options.queries + 4 * options.filteredQueries;
    this.querySources = new Map();
    for (let slot = 0; slot < slots; slot++) {
      const chunk = picks.int(0, options.chunks - 1);
      this.querySources.set(chunk, [...(this.querySources.get(chunk) ?? []), slot]);
    }
    this.queryRandom = seededRandom(options.seed, 'memory-queries');
    this.queryGaussian = new Gaussian(this.queryRandom);
  }

  /** A noise vector of norm ≈ `scale` with the cluster's spectrum, added to `into`. */
  private addNoise(gaussian: Gaussian, cluster: Cluster, scale: number, into: Float64Array): void {
    const sigma = cluster.sigma;
    for (let index = 0; index < into.length; index++) into[index] = (into[index] as number) + scale * (sigma[index] as number) * gaussian.next();
  }

  private token(random: Random, cluster: Cluster): number {
    return random.next() < TOPIC_WORD_RATE ? random.pick(cluster.topicWords) : this.words.sample(random);
  }

  private sentenceText(random: Random, cluster: Cluster, words: number): string {
    const out: string[] = [];
    let sentence = 0;
    for (let index = 0; index < words; index++) {
      let word = this.vocabulary[this.token(random, cluster)] ?? '';
      if (sentence === 0) word = word.charAt(0).toUpperCase() + word.slice(1);
      sentence++;
      if (sentence >= 8 && random.next() < 0.2) {
        word += '.';
        sentence = 0;
      }
      out.push(word);
    }
    const text = out.join(' ');
    return text.endsWith('.') ? text : `${text}.`;
  }

  /** 2–5 distinct content words from the cluster's token distribution (stop words rejected). */
  private queryText(random: Random, cluster: Cluster): string {
    const count = random.int(2, 5);
    const words = new Set<string>();
    while (words.size < count) {
      const rank = this.token(random, cluster);
      if (rank >= this.stopWordCount) words.add(this.vocabulary[rank] ?? '');
    }
    return [...words].join(' ');
  }

  /**
   * The corpus in batches of about `batchChunks` chunks (whole items), yielding to the event loop
   * every few hundred chunks so a query in flight keeps streaming while the next batch is made.
   */
  async *batches(batchChunks: number): AsyncGenerator<Batch> {
    const random = seededRandom(this.options.seed, 'memory-corpus');
    const gaussian = new Gaussian(random);
    const kinds = Object.entries(KIND_SHARES);
    const kindSampler = new Sampler(kinds.map(([, share]) => share));
    const sampleEvery = Math.max(1, Math.floor(this.options.chunks / 256));
    let chunkIndex = 0;
    let batch = emptyBatch();
    let sinceYield = 0;
    while (chunkIndex < this.options.chunks) {
      const cluster = random.pick(this.clusters);
      const kind = kinds[kindSampler.sample(random)]?.[0] ?? 'email';
      const chunkCount = Math.min(this.options.chunks - chunkIndex, [1, 1, 1, 1, 2, 2, 2, 3, 3, 4][random.int(0, 9)] ?? 1);
      const itemId = uuid(random);
      const occurredAt = new Date(YEAR_START + Math.floor(random.next() * YEAR_MS));
      const person = this.counterparties[this.people.sample(random)] ?? null;
      const titleWords = this.sentenceText(random, cluster, random.int(3, 7)).replace(/\.$/, '');
      let title: string;
      let sourceType: string;
      let sourceRef: string;
      let author: string | null;
      let counterparty: string | null;
      if (kind === 'email') {
        title = random.chance(0.4) ? `Re: ${titleWords}` : titleWords;
        sourceType = 'email';
        sourceRef = `<${itemId}@mail.bench.example>`;
        author = person;
        counterparty = person;
      } else if (kind === 'slack_message') {
        title = `#team-${random.int(1, 40)}: ${titleWords}`;
        sourceType = 'slack';
        sourceRef = `C0BENCH${random.int(10, 99)}/${Math.floor(occurredAt.getTime() / 1000)}.${String(random.int(0, 999999)).padStart(6, '0')}${this.itemsGenerated}`;
        author = `U0BENCH${random.int(100, 160)}`;
        counterparty = random.chance(0.3) ? person : null;
      } else {
        title = titleWords;
        sourceType = 'cli';
        sourceRef = `fact:${itemId}`;
        author = 'bench';
        counterparty = random.chance(0.5) ? person : null;
      }
      if (counterparty) this.counterpartyItems.set(counterparty, (this.counterpartyItems.get(counterparty) ?? 0) + 1);
      this.itemsGenerated++;

      const base = new Float64Array(cluster.centroid);
      this.addNoise(gaussian, cluster, ITEM_NOISE, base);
      const bodies: string[] = [];
      for (let position = 0; position < chunkCount; position++) {
        const body = this.sentenceText(random, cluster, random.int(40, 120));
        bodies.push(body);
        const vector = new Float64Array(base);
        this.addNoise(gaussian, cluster, CHUNK_NOISE, vector);
        normalise(vector);
        const chunkId = uuid(random);
        batch.chunks.ids.push(chunkId);
        batch.chunks.itemIds.push(itemId);
        batch.chunks.positions.push(position);
        // As itemChunks() does: the title leads the first chunk.
        batch.chunks.texts.push(position === 0 ? `${title}\n\n${body}` : body);
        batch.chunks.vectors.push(vectorLiteral(vector));
        if (chunkIndex % sampleEvery === 0 && this.sampleVectors.length < 256) this.sampleVectors.push(vector);
        for (const slot of this.querySources.get(chunkIndex) ?? []) this.pendingQueries.push({ slot, query: this.perturb(cluster, vector, chunkId) });
        chunkIndex++;
        sinceYield++;
      }
      const content = bodies.join('\n\n');
      batch.items.ids.push(itemId);
      batch.items.kinds.push(kind);
      batch.items.titles.push(title);
      batch.items.contents.push(content);
      batch.items.sourceTypes.push(sourceType);
      batch.items.sourceRefs.push(sourceRef);
      batch.items.authors.push(author);
      batch.items.occurredAt.push(occurredAt.toISOString());
      batch.items.counterparties.push(counterparty);
      batch.items.contentHashes.push(createHash('sha256').update(`${title}\u0000${content}`).digest('hex'));

      if (batch.chunks.ids.length >= batchChunks) {
        yield batch;
        batch = emptyBatch();
      }
      if (sinceYield >= 200) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    if (batch.chunks.ids.length > 0) yield batch;
  }

  private perturb(cluster: Cluster, vector: Float64Array, chunkId: string): Query {
    const query = new Float64Array(vector);
    this.addNoise(this.queryGaussian, cluster, QUERY_NOISE, query);
    normalise(query);
    return { text: this.queryText(this.queryRandom, cluster), vector: [...query], sourceChunkId: chunkId };
  }

  /**
   * The queries, once every batch has been generated. Slots are dealt out in a fixed order:
   * plain, kinds, date, then the person filters (a common person: 1–3 % of items; an uncommon
   * one: 0.2–0.6 %), each person drawn in proportion to their items. Query texts are unique (the
   * embedder port maps text to vector).
   */
  queries(): QuerySet {
    if (this.pendingQueries.length === 0) throw new Error('generate the corpus before asking for its queries');
    const ordered = [...this.pendingQueries].sort((a, b) => a.slot - b.slot).map((entry) => entry.query);
    const seen = new Set<string>();
    for (const query of ordered) {
      let text = query.text;
      for (let suffix = 2; seen.has(text); suffix++) text = `${query.text} ${this.vocabulary[this.stopWordCount + suffix] ?? suffix}`;
      seen.add(text);
      query.text = text;
    }
    const { queries: plainCount, filteredQueries: filtered } = this.options;
    const take = (from: number, count: number) => ordered.slice(from, from + count);
    const personRandom = seededRandom(this.options.seed, 'memory-people');
    const band = (low: number, high: number) => {
      const people = [...this.counterpartyItems.entries()].filter(([, items]) => items / this.itemsGenerated >= low && items / this.itemsGenerated <= high);
      if (people.length === 0) throw new Error(`no counterparty holds ${low * 100}–${high * 100} % of the items`);
      return people;
    };
    const withPeople = (queries: Query[], low: number, high: number): PersonQuery[] => {
      const people = band(low, high);
      const sampler = new Sampler(people.map(([, items]) => items));
      return queries.map((query) => {
        const [person, items] = people[sampler.sample(personRandom)] ?? ['', 0];
        return { ...query, person, personShare: items / this.itemsGenerated };
      });
    };
    return {
      plain: take(0, plainCount),
      kinds: take(plainCount, filtered),
      date: take(plainCount + filtered, filtered),
      personCommon: withPeople(take(plainCount + 2 * filtered, filtered), 0.01, 0.03),
      personUncommon: withPeople(take(plainCount + 3 * filtered, filtered), 0.002, 0.006),
    };
  }
}

function emptyBatch(): Batch {
  return {
    items: { ids: [], kinds: [], titles: [], contents: [], sourceTypes: [], sourceRefs: [], authors: [], occurredAt: [], counterparties: [], contentHashes: [] },
    chunks: { ids: [], itemIds: [], positions: [], texts: [], vectors: [] },
  };
}

/** pgvector's text form with integer mantissas (`[123e-6,...]`): exact to 1e-6 and fast to print. */
export function vectorLiteral(vector: ArrayLike<number>): string {
  // Digits written into one byte buffer: a string per component makes the load GC-bound.
  const needed = 2 + vector.length * 16;
  if (literalBuffer.length < needed) literalBuffer = Buffer.alloc(needed);
  const out = literalBuffer;
  let at = 0;
  out[at++] = 0x5b; // [
  for (let index = 0; index < vector.length; index++) {
    if (index > 0) out[at++] = 0x2c; // ,
    let value = Math.round((vector[index] as number) * 1e6);
    if (value < 0) {
      out[at++] = 0x2d; // -
      value = -value;
    }
    if (value === 0) {
      out[at++] = 0x30;
      continue;
    }
    const start = at;
    while (value > 0) {
      out[at++] = 0x30 + (value % 10);
      value = (value / 10) | 0;
    }
    for (let left = start, right = at - 1; left < right; left++, right--) {
      const swap = out[left] as number;
      out[left] = out[right] as number;
      out[right] = swap;
    }
    out[at++] = 0x65; // e
    out[at++] = 0x2d; // -
    out[at++] = 0x36; // 6
  }
  out[at++] = 0x5d; // ]
  return out.toString('latin1', 0, at);
}
let literalBuffer = Buffer.alloc(0);

export function cosineDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let index = 0; index < a.length; index++) {
    const x = a[index] ?? 0;
    const y = b[index] ?? 0;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return 1 - dot / Math.sqrt(normA * normB);
}
