// For the fresh-project tests: the README's Getting-started files (code blocks marked `file=PATH`), a project
// made from them with the packed package installed, and processes run in their own process group (so a
// signal can reach the whole group, as a terminal's Ctrl-C does).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The README's code blocks whose info string names a file (```ts file=src/queue.ts), by path, dedented. */
export function readmeFiles(): Map<string, string> {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const files = new Map<string, string>();
  const block = /^( *)```\w+ file=(\S+)\n([\s\S]*?)^\1```$/gm;
  for (const match of text.matchAll(block)) {
    const indent = (match[1] ?? '').length;
    const path = match[2] as string;
    if (files.has(path)) throw new Error(`Expected one README block for ${path}, got two`);
    files.set(
      path,
      (match[3] as string)
        .split('\n')
        .map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length)))
        .join('\n'),
    );
  }
  return files;
}

/** The exact versions this repository pins for its own development (so the test uses what the lock file holds). */
export function pinned(name: string): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const version = pkg.devDependencies[name];
  if (version === undefined) throw new Error(`Expected ${name} in devDependencies, got none`);
  return version;
}

/** Runs a command to the end; throws with its output when it fails. */
export function sh(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 240_000 });
  if (result.status !== 0) {
    throw new Error(
      `Expected \`${command} ${args.join(' ')}\` in ${cwd} to succeed, got ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result.stdout;
}

/** Packs this repository (dist/ is built by the test command) into `dir`; returns the tarball's path. */
export function pack(dir: string): string {
  const out = sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
  const [info] = JSON.parse(out) as { filename: string }[];
  if (!info) throw new Error(`Expected npm pack to report a file, got ${out}`);
  return join(dir, info.filename);
}

/** A temporary directory holding the given files. */
export function project(files: Map<string, string>, only: (path: string) => boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'dq-newcomer-'));
  for (const [path, text] of files) {
    if (!only(path)) continue;
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const NPM_QUIET = ['--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'];

/** `npm install` as the README says, with the packed tarball standing in for the registry's delayed-queue. */
export function install(dir: string, tarball: string, dev: readonly string[]): void {
  sh('npm', ['install', ...NPM_QUIET, tarball], dir);
  sh('npm', ['install', ...NPM_QUIET, '--save-dev', ...dev], dir);
}

/** A process in its own process group, its output collected, with the time each line came. */
export class GroupProcess {
  readonly proc: ChildProcess;
  output = '';
  readonly lines: { at: number; text: string }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;

  constructor(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv) {
    this.proc = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    const take = (d: Buffer) => {
      const text = d.toString();
      this.output += text;
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) this.lines.push({ at: performance.now(), text: line });
    };
    this.proc.stdout?.on('data', take);
    this.proc.stderr?.on('data', take);
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })));
  }

  /** Lines that match. */
  matching(pattern: RegExp): { at: number; text: string }[] {
    return this.lines.filter((l) => pattern.test(l.text));
  }

  /** Sends a signal to the whole group, as a terminal does. */
  signalGroup(signal: NodeJS.Signals): void {
    process.kill(-(this.proc.pid as number), signal);
  }

  /** SIGKILLs the group if it still runs (cleanup). */
  kill(): void {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    try {
      process.kill(-(this.proc.pid as number), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}
