/**
 * A throwaway redis-server for `delayed demo`: a free loopback port, no RDB or AOF, a temporary directory
 * that is removed on stop. The machine's own Redis is never touched. (The test command has its own copy in
 * scripts/; the package cannot depend on that folder, so this one lives in src/cli/demo/.)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/** What to tell a person who has no redis-server. */
export const INSTALL_REDIS_HINT =
  'Install it (Debian/Ubuntu: `sudo apt-get install redis-server`; Fedora: `sudo dnf install redis`; macOS: `brew install redis`), ' +
  'or point at a running Redis with REDIS_URL=redis://host:6379.';

/** True when a `redis-server` binary runs on this machine. */
export function hasRedisServer(): boolean {
  try {
    return spawnSync('redis-server', ['--version'], { stdio: 'ignore', timeout: 5000 }).status === 0;
  } catch {
    return false;
  }
}

/** A free loopback port (nothing listens on it once this resolves). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
    socket.once('connect', () => socket.write('PING\r\n'));
  });
}

/** Starts a private redis-server and resolves once it answers PING (rejects after 10 s). */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'delayed-demo-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 4000) stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const deadline = Date.now() + 10_000;
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  for (;;) {
    if (await answersPing(port)) break;
    const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(r, 25, undefined))]);
    if (failed || child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      cleanup();
      throw new Error(
        `redis-server did not start on port ${port}${failed ? `: ${failed.message}` : ''}${stderr ? `\n${stderr.trim()}` : ''}`,
      );
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, 3000)))]);
        clearTimeout(timer);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      cleanup();
    },
  };
}
