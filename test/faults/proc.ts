// A process the fault suite started (a worker or sweeper from worker-main.ts, possibly under a wrapper such as
// faketime): the `@@ <json>` messages it prints, its exit, and signals to its node process.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { waitFor } from '../helpers.ts';

export interface Message {
  readonly ev: string;
  readonly pid: number;
  readonly t: number;
  readonly [key: string]: unknown;
}

/** A process we started: its `@@` messages, its exit, signals. */
export class Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly messages: Message[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly startedAt = Date.now();
  exit: { code: number | null; signal: NodeJS.Signals | null; t: number } | undefined;
  readonly #log: WriteStream;

  constructor(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string) {
    this.name = name;
    this.#log = createWriteStream(logFile, { flags: 'a' });
    this.child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith('@@ ')) this.messages.push(JSON.parse(line.slice(3)) as Message);
        else this.#log.write(`[stdout] ${line}\n`);
      }
    });
    this.child.stderr!.pipe(this.#log, { end: false });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal, t: Date.now() };
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** The worker ids this process registered under, in order. */
  get workerIds(): string[] {
    return this.messages.filter((m) => m.ev === 'registered').map((m) => String(m.id));
  }

  /** Waits for the n-th (1-based) message of a kind. */
  async waitFor(ev: string, ms = 20_000, n = 1): Promise<Message> {
    return await waitFor(
      `${this.name} to say ${ev} (#${n})`,
      () => {
        const found = this.messages.filter((m) => m.ev === ev);
        if (found.length >= n) return found[n - 1];
        if (!this.alive) throw new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before it said ${ev}`);
        return undefined;
      },
      ms,
    );
  }

  /** The node process's pid (differs from `pid` when started under a wrapper such as faketime, which forks). */
  get nodePid(): number {
    const said = this.messages[0]?.pid;
    return typeof said === 'number' ? said : this.pid;
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    if (this.nodePid !== this.pid) {
      try {
        process.kill(this.nodePid, signal);
      } catch {
        // gone already
      }
      if (signal !== 'SIGKILL') return;
    }
    this.child.kill(signal);
  }

  /** kill -9, and wait for the exit; returns when it happened. */
  async kill9(): Promise<number> {
    const t = Date.now();
    this.signal('SIGKILL');
    await this.exited;
    return t;
  }

  close(): void {
    this.#log.end();
  }
}

/** Is the process stopped (SIGSTOP), per /proc? */
export function isStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
  } catch {
    return false;
  }
}
