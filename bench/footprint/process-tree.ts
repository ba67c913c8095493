import { readdirSync, readFileSync } from 'node:fs';

/**
 * Memory of a process tree as the kernel sees it, from /proc (Linux only). Resident figures
 * count shared pages (the node binary's text, shared libraries) in every process that maps
 * them, so a sum of RSS over a tree overstates what the tree costs the machine; PSS divides each
 * shared page among the processes sharing it, and its sum is the tree's share of RAM.
 */
export interface ProcessMemory {
  pid: number;
  ppid: number;
  /** The command line, shortened. */
  command: string;
  /** VmRSS: resident now. */
  rssMb: number;
  /** RssAnon: private memory (heaps, WebAssembly memory, compiled code). */
  anonMb: number;
  /** RssFile: mapped files (the node binary, libraries), shared with other processes that map them. */
  fileMb: number;
  /** Pss from smaps_rollup: resident, with shared pages divided among their sharers. */
  pssMb: number | null;
  /** VmHWM: the most this process has had resident since it started. */
  peakRssMb: number;
  threads: number;
}

export interface TreeMemory {
  processes: ProcessMemory[];
  rssMb: number;
  anonMb: number;
  pssMb: number | null;
  /** Sum of each process's own peak: an upper bound on the tree's peak. */
  peakRssMb: number;
}

/** The root and every descendant still alive, parents before children. */
export function processTreePids(rootPid: number): number[] {
  const pids: number[] = [];
  const visit = (pid: number) => {
    if (!isAlive(pid)) return;
    pids.push(pid);
    for (const child of childrenOf(pid)) visit(child);
  };
  visit(rootPid);
  return pids;
}

/** `pss: false` skips smaps_rollup, which costs the kernel a walk of every mapping: for frequent sampling. */
export function readTreeMemory(rootPid: number, options: { pss?: boolean } = {}): TreeMemory {
  const processes = processTreePids(rootPid)
    .map((pid) => readProcessMemory(pid, options))
    .filter((memory): memory is ProcessMemory => memory !== null);
  const sum = (pick: (memory: ProcessMemory) => number) => round(processes.reduce((total, memory) => total + pick(memory), 0));
  return {
    processes,
    rssMb: sum((memory) => memory.rssMb),
    anonMb: sum((memory) => memory.anonMb),
    pssMb: processes.every((memory) => memory.pssMb !== null) ? sum((memory) => memory.pssMb ?? 0) : null,
    peakRssMb: sum((memory) => memory.peakRssMb),
  };
}

/** Null when the process has gone (it may exit between listing and reading). */
export function readProcessMemory(pid: number, options: { pss?: boolean } = {}): ProcessMemory | null {
  let status: string;
  let cmdline: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return null;
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return {
    pid,
    ppid: kb('PPid'),
    command: shorten(cmdline.split('\0').filter(Boolean).join(' ')),
    rssMb: round(kb('VmRSS') / 1024),
    anonMb: round(kb('RssAnon') / 1024),
    fileMb: round(kb('RssFile') / 1024),
    pssMb: options.pss === false ? null : readPss(pid),
    peakRssMb: round(kb('VmHWM') / 1024),
    threads: kb('Threads'),
  };
}

function readPss(pid: number): number | null {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const pss = /^Pss:\s+(\d+) kB/m.exec(rollup)?.[1];
    return pss === undefined ? null : round(Number(pss) / 1024);
  } catch {
    // Not readable (another user's process, an old kernel): PSS is then left out.
    return null;
  }
}

function childrenOf(pid: number): number[] {
  const children: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return children;
  }
  for (const task of tasks) {
    try {
      const list = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (list) children.push(...list.split(/\s+/).map(Number));
    } catch {
      // The thread ended while we looked.
    }
  }
  return children;
}

function isAlive(pid: number): boolean {
  try {
    // A zombie has exited: its memory is gone, only the table entry waits for its parent.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** `/usr/bin/node --require …/tsx/dist/preflight.cjs --import file:///…/loader.mjs src/cli.ts start` → something readable. */
function shorten(command: string): string {
  const withoutPaths = command.replace(/(?:file:\/\/)?\/\S*\/node_modules\//g, '').replace(/\/usr\/bin\//g, '');
  return withoutPaths.length > 90 ? `${withoutPaths.slice(0, 87)}...` : withoutPaths;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
