// Starts a private, throwaway redis-server on a free loopback port (no persistence unless asked) and says where
// it is. Used by the test command, the tests (the fault suite kills and restarts it), the benchmark and the
// dashboard screenshots; never touches the machine's own Redis. Plain JavaScript: scripts/test.mjs runs it
// without a TypeScript loader.
// Also the building blocks of scripts/redis-cluster.mjs and scripts/redis-sentinel.mjs: free ports, a
// one-shot RESP client (`redisCommand`), polling with a deadline (`pollUntil`: for these plain-JavaScript
// scripts only; the tests poll with `waitFor` from test/helpers.ts), and a process 'exit' hook that kills
// servers a failed test left running.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function hasRedisServer() {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** True when a `redis-sentinel` command exists (else `redis-server <conf> --sentinel` does the same). */
export function hasRedisSentinel() {
  const found = spawnSync('redis-sentinel', ['--version'], { stdio: 'ignore' });
  return !found.error && found.status === 0;
}

/** A TCP port nobody listens on now, on 127.0.0.1 (someone else may take it before you do). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('error', () => resolve(false));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('connect', () => socket.write('PING\r\n'));
  });
}

/**
 * Starts redis-server (on `port`, or a free one); resolves once it answers PING with
 * { url, port, pid, dir, kill9(), restart(), crash(), stop() }.
 * Options: `configFile` is passed first (a file the server may rewrite, as Sentinel does); `sentinel` runs
 * Sentinel (`redis-sentinel`, or `redis-server --sentinel` where that command is missing); `killOnExit` kills
 * the server with SIGKILL when this process exits while the server still runs, and removes its folder; `dir`
 * is the server's folder (default: a fresh temporary one; removed by crash() and stop()); `binary` is the
 * command to run (default redis-server); `startTimeoutMs` bounds each start (default 10 s).
 * `extraArgs` come after the defaults (no persistence), so `['--appendonly', 'yes']` turns the AOF on.
 * On a free port of its own choosing it tries another port when the server exits before answering (a port race).
 */
export async function startRedis(extraArgs = [], port = undefined, options = {}) {
  const { configFile, sentinel = false, killOnExit = false, startTimeoutMs = 10_000 } = options;
  const chosePort = port === undefined;
  port ??= await freePort();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'delayed-redis-'));
  mkdirSync(dir, { recursive: true });
  const command = options.binary ?? (sentinel && hasRedisSentinel() ? 'redis-sentinel' : 'redis-server');
  const first = [...(configFile ? [configFile] : []), ...(sentinel && command === 'redis-server' ? ['--sentinel'] : [])];
  let child;
  let exited = Promise.resolve();
  let forgetChild = () => {};
  const forgetDir = killOnExit ? atExit(() => rmSync(dir, { recursive: true, force: true })) : () => {};
  const removeDir = () => {
    rmSync(dir, { recursive: true, force: true });
    forgetDir();
  };

  // One server process on `port` with `dir`; resolves once it answers PING, else kills it and throws.
  async function launch() {
    child = spawn(
      command,
      [...first, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const proc = child;
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    if (killOnExit) {
      forgetChild = atExit(() => proc.kill('SIGKILL'));
      proc.once('exit', forgetChild);
    }
    const deadline = Date.now() + startTimeoutMs;
    while (!(await ping(port))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        const why = proc.exitCode !== null ? `exited with ${proc.exitCode}` : `did not answer PING within ${startTimeoutMs} ms`;
        proc.kill('SIGKILL');
        await exited;
        throw new Error(`${command} ${why} on port ${port} (args ${extraArgs.join(' ')})`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      if (!chosePort || child.exitCode === null || attempt >= 3) {
        removeDir();
        throw error;
      }
      port = await freePort(); // someone took the port first: another one
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    /** The server's process id (a new one after restart()). */
    get pid() {
      return child.pid;
    },
    /** Sends a signal to the server process (e.g. SIGSTOP, SIGCONT). */
    signal(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    /** kill -9, and waits for the exit; the folder stays (an AOF in it survives for restart()). */
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    /** Starts the server again on the same port with the same folder and arguments (after kill9()). */
    async restart() {
      await launch();
    },
    /** Kills the server at once (no save), as a crash would, and removes its folder. */
    async crash() {
      child.kill('SIGKILL');
      await exited;
      removeDir();
    },
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000).unref())]);
      if (child.exitCode === null) child.kill('SIGKILL');
      removeDir();
    },
  };
}

// Cleanups run (synchronously) when this process exits, or dies of SIGINT / SIGTERM / SIGHUP while no one
// else handles that signal: servers a failed test left running are killed, their folders removed.
const exitHooks = new Set();
let exitHooked = false;

function runExitHooks() {
  for (const hook of [...exitHooks]) {
    exitHooks.delete(hook);
    try {
      hook();
    } catch {
      // exiting anyway: do the others
    }
  }
}

/** Runs `hook` (synchronous) when the process exits; returns a function that cancels it. */
export function atExit(hook) {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', runExitHooks);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
      // Only when the signal would kill the process (no other listener): clean up, then die of it as before.
      // With another listener the process lives on, and the 'exit' hook cleans up whenever it ends.
      const onSignal = () => {
        if (process.listenerCount(signal) > 1) return;
        process.removeListener(signal, onSignal);
        runExitHooks();
        process.kill(process.pid, signal);
      };
      process.on(signal, onSignal);
    }
  }
  exitHooks.add(hook);
  return () => {
    exitHooks.delete(hook);
  };
}

/** An error reply from Redis (`-ERR ...`, `-MOVED ...`): `message` is the reply's text. */
export class RedisReplyError extends Error {
  constructor(message) {
    super(message);
    this.name = 'RedisReplyError';
  }
}

const CRLF = Buffer.from('\r\n');

// One RESP2 reply from buf at pos: [value, next position], or undefined while incomplete.
function parseReply(buf, pos, buffers) {
  const end = buf.indexOf(CRLF, pos);
  if (end < 0) return undefined;
  const type = buf[pos];
  const line = buf.toString('utf8', pos + 1, end);
  const next = end + 2;
  switch (type) {
    case 0x2b: // +
      return [line, next];
    case 0x2d: // -
      return [new RedisReplyError(line), next];
    case 0x3a: // :
      return [Number(line), next];
    case 0x24: {
      // $
      const length = Number(line);
      if (length < 0) return [null, next];
      if (buf.length < next + length + 2) return undefined;
      const bytes = buf.subarray(next, next + length);
      return [buffers ? Buffer.from(bytes) : bytes.toString('utf8'), next + length + 2];
    }
    case 0x2a: {
      // *
      const count = Number(line);
      if (count < 0) return [null, next];
      const items = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, at, buffers);
        if (!item) return undefined;
        items.push(item[0]);
        at = item[1];
      }
      return [items, at];
    }
    default:
      throw new Error(`Not a RESP reply: ${JSON.stringify(buf.toString('utf8', pos, Math.min(buf.length, pos + 40)))}`);
  }
}

function encodeCommand(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg));
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

/**
 * Sends one command on a fresh connection to 127.0.0.1:`port` (or `host`) and resolves with the reply:
 * strings (Buffers with `buffers: true`), numbers, null, arrays; an error reply rejects with RedisReplyError.
 * Rejects when the connection fails or no reply came within `timeoutMs`.
 */
export function redisCommand(port, args, { host = '127.0.0.1', timeoutMs = 10_000, buffers = false } = {}) {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let done = false;
    const finish = (error, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    const socket = createConnection({ port, host });
    const timer = setTimeout(
      () => finish(new Error(`No reply from ${host}:${port} to ${String(args[0])} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('error', (error) => finish(error));
    socket.once('close', () => finish(new Error(`${host}:${port} closed the connection before replying to ${String(args[0])}`)));
    socket.on('data', (chunk) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      let reply;
      try {
        reply = parseReply(received, 0, buffers);
      } catch (error) {
        finish(error);
        return;
      }
      if (!reply) return;
      if (reply[0] instanceof RedisReplyError) finish(reply[0]);
      else finish(undefined, reply[0]);
    });
    socket.once('connect', () => socket.write(encodeCommand(args)));
  });
}

/** Parses INFO's `field:value` lines. */
export function parseInfo(text) {
  const fields = {};
  for (const line of String(text).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/**
 * Calls `check` until it returns something other than undefined / false / null, and resolves with that;
 * rejects naming `what` (and the last error `check` threw) once `timeoutMs` has passed. For the launcher
 * scripts (plain JavaScript, run by scripts/test.mjs without a TypeScript loader); tests use `waitFor` from
 * test/helpers.ts.
 */
export async function pollUntil(what, check, { timeoutMs = 60_000, everyMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false && value !== null) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})` : '';
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
