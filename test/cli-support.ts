// For the CLI, status and metrics tests: run the built `delayed` binary (dist/cli/main.js, built by the test
// command) as a child process against the test Redis, and make task modules and queue names of their own.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../scripts/redis-server.mjs';
import { REDIS_URL, waitFor } from './helpers.ts';

export const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const DIST_INDEX = new URL('../dist/index.js', import.meta.url).href;

export function uniqueName(tag: string): string {
  return `${tag}-${randomBytes(5).toString('hex')}`;
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs `node dist/cli/main.js ...args` to the end. REDIS_URL is the test Redis unless `env` says otherwise. */
export function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], {
      env: options.env ?? { ...process.env, REDIS_URL },
      cwd: options.cwd ?? process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`delayed ${args.join(' ')} ran over ${options.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
}

const running = new Set<CliProcess>();

/** SIGKILLs every CliProcess still running (call it in `after`, so a stuck child cannot keep a test file alive). */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill()));
}

/** A long-running `delayed` (worker, sweeper, status --watch): read its output as it comes, signal it, await it. */
export class CliProcess {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: readonly string[], env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL }) {
    this.proc = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.proc.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      this.proc.once('exit', (code, signal) => {
        running.delete(this);
        resolve({ code, signal });
      }),
    );
    running.add(this);
  }

  /** Waits until stdout matches (returns the match), failing with both streams shown. */
  async waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const printed = () => {
      const match = pattern.exec(this.stdout);
      if (match) return match;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null)
        throw new Error(`delayed exited (${this.proc.exitCode ?? this.proc.signalCode}) before printing ${pattern}`);
      return undefined;
    };
    try {
      return await waitFor(String(pattern), printed, timeoutMs, 25);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves with how it ended. */
  async stop(graceMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    const how = await this.exited;
    clearTimeout(timer);
    return how;
  }

  /** Ends it if it still runs (test cleanup). */
  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    await this.exited;
  }
}

/** Writes a JavaScript tasks module (it imports the built package) and returns its path. */
export function tasksModule(source = DEFAULT_TASKS): string {
  const dir = mkdtempSync(join(tmpdir(), 'delayed-cli-tasks-'));
  const path = join(dir, 'tasks.mjs');
  writeFileSync(path, source.replaceAll('DELAYED_INDEX', DIST_INDEX));
  return path;
}

const DEFAULT_TASKS = `
import { defineTask } from 'DELAYED_INDEX';
export const add = defineTask('add', (a, b) => a + b);
export const boom = defineTask('boom', (message) => { throw new Error(message); });
export const slow = defineTask('slow', (ms) => new Promise((resolve) => setTimeout(() => resolve(ms), ms)));
`;

/** A loopback port nothing listens on (for "Redis unreachable"). */
export const closedPort = freePort;
