// What a new user does: the packed package installed into a fresh project, the README's Getting-started
// files (read out of README.md, so the README cannot drift from what is tested) compiled with the user's own
// tsc --strict (the TypeScript this repository pins, and TypeScript 7), the worker run the ways the README
// says, signalled while tasks run. A private redis-server; queue `default` as in the README.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../scripts/redis-server.mjs';
import { waitFor } from './helpers.ts';
import { GroupProcess, install, pack, pinned, project, readmeFiles, sh } from './newcomer-support.ts';

/**
 * How soon the process must end after its last task finished: close() promises well under 500 ms (stop
 * fetching, release, leave the lease, end the children, disconnect); the rest is margin for a loaded
 * 2-core CI machine.
 */
const EXIT_AFTER_LAST_TASK_MS = 500 + 1000;
const WAITING = 'delayed:{default}:waiting';

let server: RedisServer;
let redis: Redis;
let dir: string;
let tsc7: string | undefined;
let env: NodeJS.ProcessEnv;
const running = new Set<GroupProcess>();

function start(args: readonly string[]): GroupProcess {
  const p = new GroupProcess(args[0] as string, args.slice(1), dir, env);
  running.add(p);
  return p;
}

/** The names of the tasks in the workers' in-flight lists (the README's queue only: this Redis is the test's own). */
async function inFlight(): Promise<string[]> {
  const names: string[] = [];
  for (const key of await redis.keys('delayed:{default}:worker:*')) {
    for (const entry of await redis.lrange(key, 0, -1)) names.push(entry.split('|')[5] ?? '?');
  }
  return names.sort();
}

/**
 * Waits until `n` runs of the README's slow task (a second long) are in flight and, with `drained`, nothing
 * waits (every task left is in flight, so all of them must finish).
 */
async function untilRunning(n: number, worker: GroupProcess, drained: boolean): Promise<void> {
  await until(`${n} resize runs in flight${drained ? ', nothing waiting' : ''}`, worker, async () => {
    if (drained && (await redis.llen(WAITING)) > 0) return false;
    return (await inFlight()).filter((name) => name === 'resize').length === n;
  });
}

/** Polls (every 10 ms, 30 s at most); a failure shows what the worker said. */
async function until(what: string, worker: GroupProcess, check: () => boolean | Promise<boolean>): Promise<void> {
  try {
    await waitFor(what, check, 30_000, 10);
  } catch (err) {
    throw new Error(`${(err as Error).message}; the worker said:\n${worker.output}`);
  }
}

/** Runs a test with a worker process that is SIGKILLed at the end if it still runs. */
async function withWorker(args: readonly string[], fn: (worker: GroupProcess) => Promise<void>): Promise<void> {
  const worker = start(args);
  try {
    await fn(worker);
  } finally {
    worker.kill();
    await worker.exited;
  }
}

/** What the queue left in Redis, besides the sweep lock (which lives one interval). */
async function leftInRedis(): Promise<string[]> {
  return (await redis.keys('delayed:{default}:*')).filter((k) => !k.endsWith(':sweep')).sort();
}

describe('from npm install to a running worker, as the README says', { timeout: 240_000 }, () => {
  const files = readmeFiles();

  before(async () => {
    for (const path of [
      'package.json',
      'tsconfig.json',
      'src/queue.ts',
      'src/tasks.ts',
      'src/enqueue.ts',
      'src/worker.ts',
      'js/tasks.js',
      'js/worker.js',
      'js/enqueue.js',
    ]) {
      assert.ok(files.has(path), `README.md has no block marked file=${path}`);
    }
    server = await startRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    env = { ...process.env, REDIS_URL: server.url };
    delete env.NODE_OPTIONS;
    const packDir = mkdtempSync(join(tmpdir(), 'dq-pack-'));
    const tarball = pack(packDir);
    dir = project(files, () => true);
    install(dir, tarball, [`typescript@${pinned('typescript')}`, `tsx@${pinned('tsx')}`, `@types/node@${pinned('@types/node')}`]);
    rmSync(packDir, { recursive: true, force: true });
  });

  after(async () => {
    for (const p of running) p.kill();
    redis?.disconnect();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (tsc7) rmSync(tsc7, { recursive: true, force: true });
  });

  test("tsc --strict compiles the Getting-started files with the README's package.json and tsconfig.json", () => {
    sh('npx', ['tsc', '--strict'], dir);
    for (const file of ['queue', 'tasks', 'enqueue', 'worker']) assert.ok(existsSync(join(dir, 'dist', `${file}.js`)), `dist/${file}.js`);
  });

  test('the wrong argument the README shows does not compile, with the message it quotes', () => {
    const wrong = join(dir, 'src', 'wrong.ts');
    writeFileSync(wrong, "import { queue } from './queue.js';\nimport { add } from './tasks.js';\n\nawait add.delay(queue, 1, 'x');\n");
    try {
      assert.throws(() => sh('npx', ['tsc', '--noEmit'], dir), /Argument of type 'string' is not assignable to parameter of type 'number'/);
    } finally {
      rmSync(wrong);
    }
  });

  test("require('delayed-queue') works from CommonJS on the Node versions engines names", () => {
    // No CommonJS build: engines asks for Node 20.19+ / 22.12+, where require() loads an ES module.
    writeFileSync(
      join(dir, 'check.cjs'),
      "const dq = require('delayed-queue');\nconsole.log(typeof dq.Queue, typeof dq.defineTask, typeof dq.PreforkedWorker);\n",
    );
    assert.equal(sh(process.execPath, ['check.cjs'], dir, env).trim(), 'function function function');
  });

  test('TypeScript 7 compiles them too', () => {
    tsc7 = mkdtempSync(join(tmpdir(), 'dq-ts7-'));
    sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', 'typescript@7'], tsc7);
    const version = sh(process.execPath, [join(tsc7, 'node_modules', 'typescript', 'bin', 'tsc'), '--version'], dir);
    assert.match(version, /^Version 7\./);
    sh(process.execPath, [join(tsc7, 'node_modules', 'typescript', 'bin', 'tsc'), '--strict', '--noEmit', '-p', '.'], dir);
  });

  test('built: node dist/worker.js runs every task; one Ctrl-C that arrives twice lets the running tasks finish; exit 0, promptly', async () => {
    for (let i = 0; i < 2; i++) {
      assert.match(sh(process.execPath, ['dist/enqueue.js'], dir, env), /^enqueued \S+ and 6 more; add\(1, 2\) called here runs now: 3$/m);
    }
    await withWorker([process.execPath, 'dist/worker.js'], async (worker) => {
      await untilRunning(2, worker, false);
      // A terminal's Ctrl-C reaches the whole group; a launcher (npx tsx, npm run) passes its copy on a moment later.
      worker.signalGroup('SIGINT');
      await sleep(10);
      worker.proc.kill('SIGINT');
      const exit = await worker.exited;
      assert.equal(exit.code, 0, worker.output);
      const finished = worker.matching(/\) finished: /);
      assert.equal(worker.matching(/\(resize\) finished: \{/).length, 2, worker.output);
      assert.doesNotMatch(worker.output, /second signal|failed|put back/);
      // The tasks behind the two slow ones wait, untouched (attempt 0: none was taken and put back).
      const waiting = await redis.lrange(WAITING, 0, -1);
      assert.equal(finished.length + waiting.length, 14, worker.output);
      assert.ok(
        waiting.every((entry) => entry.startsWith('1|0|0||')),
        waiting.join('\n'),
      );
      assert.deepEqual(
        await leftInRedis(),
        // With tasks still waiting the queue keeps its epoch and its configuration record (which goes with the
        // last worker of a drained queue).
        waiting.length > 0 ? ['delayed:{default}:config', 'delayed:{default}:epoch', WAITING] : [],
        'the worker left its registration behind',
      );
      await redis.del(WAITING, 'delayed:{default}:epoch', 'delayed:{default}:config');
      // Promptness of close(). KNOWN TO FAIL on branch wave2-newcomer (9.0 s measured): Worker.#shutdown races
      // sleep(shutdownTimeoutMs) (10 s), sleep(2000) and sleep(3000) against the real work and leaves the losing
      // timers running, which keeps the process alive. The coordinator's fix of src/worker.ts lands on main,
      // where this must pass.
      const closeMs = exit.at - (finished.at(-1)?.at ?? 0);
      assert.ok(
        closeMs <= EXIT_AFTER_LAST_TASK_MS,
        `the process ended ${Math.round(closeMs)} ms after its last task, over ${EXIT_AFTER_LAST_TASK_MS} ms`,
      );
    });
  });

  test('from source: node --import tsx src/worker.ts; one SIGTERM while a task runs lets it finish; exit 0', async () => {
    assert.match(sh(process.execPath, ['--import', 'tsx', 'src/enqueue.ts'], dir, env), /runs now: 3$/m);
    await withWorker([process.execPath, '--import', 'tsx', 'src/worker.ts'], async (worker) => {
      await untilRunning(1, worker, true);
      worker.proc.kill('SIGTERM');
      const exit = await worker.exited;
      assert.equal(exit.code, 0, worker.output);
      assert.equal(
        worker.matching(/\(resize\) finished: \{ url: 'https:\/\/example\.com\/cat\.png', width: 640, attempt: 0 \}/).length,
        1,
        worker.output,
      );
      assert.equal(worker.matching(/\) finished: /).length, 7, worker.output);
      assert.doesNotMatch(worker.output, /second signal|failed|put back/);
      assert.deepEqual(await leftInRedis(), []);
    });
  });

  test('plain JavaScript: node js/enqueue.js, node js/worker.js', async () => {
    assert.match(sh(process.execPath, ['js/enqueue.js'], dir, env), /^enqueued \S+ and \S+$/m);
    await withWorker([process.execPath, 'js/worker.js'], async (worker) => {
      await until('two finished tasks', worker, () => worker.matching(/\) finished: /).length === 2);
      worker.proc.kill('SIGTERM');
      assert.equal((await worker.exited).code, 0, worker.output);
      assert.equal(worker.matching(/\(add\) finished: 3$/).length, 1, worker.output);
      assert.equal(
        worker.matching(/\(resize\) finished: \{ url: 'https:\/\/example\.com\/cat\.png', width: 640 \}/).length,
        1,
        worker.output,
      );
    });
  });

  test('delayed worker --tasks ./src/tasks.ts loads tsx itself; a Ctrl-C that arrives twice drains; exit 0', async () => {
    sh(process.execPath, ['dist/enqueue.js'], dir, env);
    await withWorker(
      [join(dir, 'node_modules', '.bin', 'delayed'), 'worker', '--queue', 'default', '--tasks', './src/tasks.ts', '--concurrency', '2'],
      async (worker) => {
        await untilRunning(1, worker, true);
        worker.signalGroup('SIGINT');
        await sleep(10);
        worker.proc.kill('SIGINT');
        const exit = await worker.exited;
        assert.equal(exit.code, 0, worker.output);
        assert.match(worker.output, /^\S+ ok +resize /m);
        assert.match(worker.output, /worker stopped: 7 ok, 0 failed, 0 put back/);
        assert.deepEqual(await leftInRedis(), []);
      },
    );
  });

  test('delayed worker --tasks ./src/tasks.ts without tsx installed says how to install it (exit 4)', () => {
    sh('npm', ['uninstall', '--no-audit', '--no-fund', '--loglevel=error', 'tsx'], dir);
    const result = sh(
      'sh',
      ['-c', `${join(dir, 'node_modules', '.bin', 'delayed')} worker --queue default --tasks ./src/tasks.ts 2>&1; echo "exit=$?"`],
      dir,
      env,
    );
    assert.match(result, /Expected tsx to be installed to run the TypeScript module file:\/\/\S+\/src\/tasks\.ts/);
    assert.match(result, /npm install --save-dev tsx/);
    assert.match(result, /exit=4$/m);
  });
});
