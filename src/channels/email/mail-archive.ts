import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AdjutantError } from '../../errors.ts';

/**
 * Reads history for `adjutant ingest`: an mbox file, a Maildir, or .eml files (or a directory of
 * them). Messages are yielded one at a time, so a mailbox of gigabytes is never held in memory.
 */
export type ArchiveKind = 'mbox' | 'maildir' | 'eml';

export interface ArchiveMessage {
  raw: Buffer;
  /** Where it came from, for messages: "archive.mbox #12", "Maildir/cur/1700…". */
  origin: string;
}

export async function detectArchive(path: string): Promise<ArchiveKind> {
  const info = await stat(path).catch(() => null);
  if (!info) throw new AdjutantError('NOT_FOUND', `${path} does not exist: give an mbox file, a Maildir, or .eml files`);
  if (info.isDirectory()) {
    const entries = new Set(await readdir(path));
    return entries.has('cur') && entries.has('new') ? 'maildir' : 'eml';
  }
  if (/\.eml$/i.test(path)) return 'eml';
  const head = await readHead(path, 5);
  if (head.startsWith('From ')) return 'mbox';
  throw new AdjutantError('MAIL_PARSE_FAILED', `${path} is neither an mbox (its first line does not start with "From ") nor an .eml file`);
}

/** Every message in the archives, in order. */
export async function* readArchive(paths: string[]): AsyncGenerator<ArchiveMessage> {
  for (const path of paths) {
    const kind = await detectArchive(path);
    if (kind === 'mbox') yield* readMbox(path);
    else if (kind === 'maildir') yield* readMaildir(path);
    else yield* readEmlFiles(path);
  }
}

/** How many messages the archives hold, for progress: a quick scan without parsing. */
export async function countArchive(paths: string[]): Promise<number> {
  let count = 0;
  for (const path of paths) {
    const kind = await detectArchive(path);
    if (kind === 'mbox') {
      for await (const line of mboxLines(path)) if (isSeparator(line)) count += 1;
    } else if (kind === 'maildir') {
      count += (await maildirFiles(path)).length;
    } else {
      count += (await emlFiles(path)).length;
    }
  }
  return count;
}

async function* readMbox(path: string): AsyncGenerator<ArchiveMessage> {
  let lines: Buffer[] = [];
  let index = 0;
  const finish = (): ArchiveMessage | null => {
    if (lines.length === 0) return null;
    // The line break before the next separator belongs to the mbox, not the message.
    const last = lines.at(-1);
    if (last && (last.equals(LF) || last.equals(CRLF))) lines.pop();
    index += 1;
    const message = { raw: Buffer.concat(lines), origin: `${path} #${index}` };
    lines = [];
    return message;
  };
  let started = false;
  for await (const line of mboxLines(path)) {
    if (isSeparator(line)) {
      const message = started ? finish() : null;
      started = true;
      if (message) yield message;
      continue;
    }
    if (!started) continue;
    // mboxrd quoting: ">From " (and ">>From "…) lost one ">" when it was written.
    lines.push(/^>+From /.test(line.subarray(0, 64).toString('latin1')) ? line.subarray(1) : line);
  }
  const message = finish();
  if (message) yield message;
}

const LF = Buffer.from('\n');
const CRLF = Buffer.from('\r\n');

function isSeparator(line: Buffer): boolean {
  return line.length > 5 && line[0] === 0x46 && line.subarray(0, 5).toString('latin1') === 'From ';
}

/** The file's lines as bytes, line breaks kept: message bodies are not necessarily UTF-8. */
async function* mboxLines(path: string): AsyncGenerator<Buffer> {
  let rest = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    let buffer = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    for (let at = buffer.indexOf(0x0a, start); at !== -1; at = buffer.indexOf(0x0a, start)) {
      yield buffer.subarray(start, at + 1);
      start = at + 1;
    }
    rest = Buffer.from(buffer.subarray(start));
    buffer = Buffer.alloc(0);
  }
  if (rest.length > 0) yield rest;
}

async function maildirFiles(path: string): Promise<string[]> {
  const files: string[] = [];
  for (const folder of ['cur', 'new']) {
    const names = await readdir(join(path, folder)).catch(() => [] as string[]);
    files.push(...names.filter((name) => !name.startsWith('.')).sort().map((name) => join(path, folder, name)));
  }
  return files;
}

async function* readMaildir(path: string): AsyncGenerator<ArchiveMessage> {
  for (const file of await maildirFiles(path)) yield { raw: await readFile(file), origin: file };
}

async function emlFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  return (await readdir(path)).filter((name) => /\.eml$/i.test(name)).sort().map((name) => join(path, name));
}

async function* readEmlFiles(path: string): AsyncGenerator<ArchiveMessage> {
  for (const file of await emlFiles(path)) yield { raw: await readFile(file), origin: file };
}

async function readHead(path: string, bytes: number): Promise<string> {
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 })) return (chunk as Buffer).toString('latin1');
  return '';
}
