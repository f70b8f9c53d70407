// The `delayed` command, run as a person or a script would: the built binary as a child process, against
// the test Redis. Each test uses queues of its own and deletes their keys.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CliProcess, killAll, closedPort, runCli, tasksModule, uniqueName } from './cli-support.ts';
import { dropQueue, inspector, REDIS_URL, waitFor } from './helpers.ts';
import { REPEAT_WINDOW_MS } from '../src/signals.ts';

const redis = inspector();
const made: string[] = [];
function queue(tag: string): string {
  const name = uniqueName(tag);
  made.push(name);
  return name;
}
after(async () => {
  await killAll();
  for (const name of made) await dropQueue(redis, name);
  redis.disconnect();
});

describe('help, usage errors and exit codes', { timeout: 180_000 }, () => {
  test('--help lists the commands; each command has its own --help', async () => {
    const main = await runCli(['--help']);
    assert.equal(main.code, 0);
    for (const command of ['worker', 'sweeper', 'status', 'enqueue', 'demo']) assert.match(main.stdout, new RegExp(`^  ${command} `, 'm'));
    for (const command of ['worker', 'sweeper', 'status', 'enqueue', 'demo']) {
      const help = await runCli([command, '--help']);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, new RegExp(`^Usage: delayed ${command}`));
      assert.match(help.stdout, /Example/);
      const viaHelp = await runCli(['help', command]);
      assert.equal(viaHelp.stdout, help.stdout);
    }
  });

  test('no command prints the help and exits 2; --version prints the version', async () => {
    const none = await runCli([]);
    assert.equal(none.code, 2);
    assert.match(none.stdout, /Usage: delayed <command>/);
    const version = await runCli(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  });

  test('an unknown command exits 2 and suggests the close one', async () => {
    const r = await runCli(['wroker']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "wroker" \(did you mean worker\?\)/);
    assert.match(r.stderr, /worker, sweeper, status, enqueue, task, cancel, dead, pause, resume, schedules, demo/);
  });

  test('an unknown option exits 2, names it and suggests the close one', async () => {
    const r = await runCli(['status', '--queue', 'x', '--jsn']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /status: unknown option --jsn \(did you mean --json\?\)/);
    assert.match(r.stderr, /delayed status --help/);
    const missing = await runCli(['worker', '--queue']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--queue needs a value/);
  });

  test('bad values exit 2 with what was expected', async () => {
    const kind = await runCli(['worker', '--queue', 'q', '--tasks', 'x.js', '--kind', 'threads']);
    assert.equal(kind.code, 2);
    assert.match(kind.stderr, /--kind: expected preforked, forked or inline, got "threads"/);
    const concurrency = await runCli(['worker', '--queue', 'q', '--tasks', 'x.js', '--concurrency', 'many']);
    assert.equal(concurrency.code, 2);
    assert.match(concurrency.stderr, /--concurrency: expected a whole number from 1 to 1000, got "many"/);
    const name = await runCli(['enqueue', 'add', '--queue', 'bad{name}']);
    assert.equal(name.code, 2);
    assert.match(name.stderr, /--queue/);
    const noQueue = await runCli(['sweeper'], { env: { ...process.env, REDIS_URL, DELAYED_QUEUE: '' } });
    assert.equal(noQueue.code, 2);
    assert.match(noQueue.stderr, /--queue NAME is required/);
  });

  test('a bad Redis URL exits 2; an unreachable Redis exits 3 with the reason', async () => {
    const bad = await runCli(['status', '--queue', 'q', '--redis', 'localhost:6379']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /is not a Redis URL.*expected redis:\/\//);
    const fromEnv = await runCli(['status', '--queue', 'q'], { env: { ...process.env, REDIS_URL: 'http://example' } });
    assert.equal(fromEnv.code, 2);
    assert.match(fromEnv.stderr, /^delayed: REDIS_URL: /);
    const port = await closedPort();
    for (const command of [
      ['status', '--queue', 'q'],
      ['enqueue', 'add', '--queue', 'q'],
      ['worker', '--queue', 'q', '--tasks', tasksModule()],
      ['sweeper', '--queue', 'q'],
    ]) {
      const r = await runCli([...command, '--redis', `redis://:secret@127.0.0.1:${port}`]);
      assert.equal(r.code, 3, `${command[0]}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`cannot reach Redis at redis://:\\*\\*\\*@127.0.0.1:${port}: .*ECONNREFUSED`));
      assert.doesNotMatch(r.stderr, /secret/);
      assert.match(r.stderr, /Is redis-server running there\?/);
    }
  });
});

describe('delayed enqueue', { timeout: 180_000 }, () => {
  test('prints the id; the entry carries the name, arguments and timeout', async () => {
    const name = queue('enq');
    const r = await runCli(['enqueue', 'add', '--queue', name, '--args', '[1, {"b": [2]}]', '--timeout', '1500', '--max-attempts', '5']);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[\w-]+\.[0-9a-z]+$/);
    const entries = await redis.lrange(`delayed:{${name}}:waiting`, 0, -1);
    assert.deepEqual(entries, [`1|0|0||${id}|add|1500|5|[1,{"b":[2]}]`]);
  });

  test('takes DELAYED_QUEUE and --prefix; no --args means no arguments', async () => {
    const name = queue('enq');
    const r = await runCli(['enqueue', 'tick', '--prefix', 'dlytest'], { env: { ...process.env, REDIS_URL, DELAYED_QUEUE: name } });
    assert.equal(r.code, 0, r.stderr);
    const entries = await redis.lrange(`dlytest:{${name}}:waiting`, 0, -1);
    assert.equal(entries.length, 1);
    assert.match(entries[0] as string, /\|tick\|600000\|3\|\[\]$/);
    await dropQueue(redis, name, 'dlytest');
  });

  test('bad arguments and task names exit 2 and write nothing', async () => {
    const name = queue('enq');
    const notJson = await runCli(['enqueue', 'add', '--queue', name, '--args', '[1,']);
    assert.equal(notJson.code, 2);
    assert.match(notJson.stderr, /--args: not valid JSON/);
    const notArray = await runCli(['enqueue', 'add', '--queue', name, '--args', '{"a": 1}']);
    assert.equal(notArray.code, 2);
    assert.match(notArray.stderr, /expected a JSON array/);
    const badName = await runCli(['enqueue', '9lives', '--queue', name]);
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /task name/);
    const noTask = await runCli(['enqueue', '--queue', name]);
    assert.equal(noTask.code, 2);
    assert.match(noTask.stderr, /which task\?/);
    const extra = await runCli(['enqueue', 'add', 'more', '--queue', name]);
    assert.equal(extra.code, 2);
    assert.match(extra.stderr, /unexpected argument "more"/);
    assert.equal(await redis.llen(`delayed:{${name}}:waiting`), 0);
  });
});

describe('delayed worker', { timeout: 180_000 }, () => {
  test('runs tasks and logs one line per outcome; SIGTERM lets the running task finish', async () => {
    const name = queue('wrk');
    const tasks = tasksModule();
    const worker = new CliProcess(['worker', '--queue', name, '--tasks', tasks, '--concurrency', '2']);
    try {
      await worker.waitFor(/^worker \S+ started: queue \S+ on redis:\/\/\S+, preforked x2/m);
      const add = (await runCli(['enqueue', 'add', '--queue', name, '--args', '[1, 2]'])).stdout.trim();
      const boom = (await runCli(['enqueue', 'boom', '--queue', name, '--args', '["it broke"]'])).stdout.trim();
      const ghost = (await runCli(['enqueue', 'ghost', '--queue', name])).stdout.trim();
      await worker.waitFor(new RegExp(`^\\S+Z ok +add ${add.replace('.', '\\.')} \\d+(ms|\\.\\d+s)$`, 'm'));
      await worker.waitFor(new RegExp(`^\\S+Z failed +boom ${boom.replace('.', '\\.')} \\S+ reason=thrown: it broke$`, 'm'));
      await worker.waitFor(new RegExp(`failed +ghost ${ghost.replace('.', '\\.')} .*reason=unknown-task`, 'm'));
      const slow = (await runCli(['enqueue', 'slow', '--queue', name, '--args', '[1500]'])).stdout.trim();
      await waitFor('the slow task to start', async () => (await redis.llen(`delayed:{${name}}:waiting`)) === 0, 15_000, 25);
      await new Promise((r) => setTimeout(r, 300));
      worker.proc.kill('SIGTERM');
      const { code } = await worker.exited;
      assert.equal(code, 0, worker.stderr);
      assert.match(worker.stdout, new RegExp(`ok +slow ${slow.replace('.', '\\.')} `));
      assert.match(worker.stdout, /^worker stopped: 2 ok, 2 failed, 0 put back$/m);
      assert.match(worker.stderr, /stopping: running tasks may finish/);
      assert.equal(await redis.exists(`delayed:{${name}}:workers`), 0, 'the worker left its registration behind');
    } finally {
      await worker.kill();
    }
  });

  test('a second signal stops at once and puts the running task back', async () => {
    const name = queue('wrk');
    const worker = new CliProcess(['worker', '--queue', name, '--tasks', tasksModule(), '--kind', 'forked']);
    try {
      await worker.waitFor(/started: queue/);
      const id = (await runCli(['enqueue', 'slow', '--queue', name, '--args', '[30000]'])).stdout.trim();
      await waitFor('the slow task to start', async () => (await redis.llen(`delayed:{${name}}:waiting`)) === 0, 15_000, 25);
      worker.proc.kill('SIGINT');
      // Past the window in which a repeat of the same signal counts as the first (src/signals.ts).
      await new Promise((r) => setTimeout(r, REPEAT_WINDOW_MS + 300));
      worker.proc.kill('SIGINT');
      const { code } = await worker.exited;
      assert.equal(code, 0, worker.stderr);
      assert.match(worker.stdout, new RegExp(`put back slow ${id.replace('.', '\\.')} .*\\(the worker is stopping\\)`));
      assert.match(worker.stderr, /second signal: stopping now/);
      const waiting = await redis.lrange(`delayed:{${name}}:waiting`, 0, -1);
      assert.equal(waiting.length, 1);
      // It had started, so the stop cut it off: counted, reason 'stopped' (no run of stops can loop a task).
      assert.match(waiting[0] as string, new RegExp(`^1\\|1\\|1\\|stopped\\|${id.replace('.', '\\.')}\\|slow\\|`));
    } finally {
      await worker.kill();
    }
  });

  test('inline workers, --quiet', async () => {
    const name = queue('wrk');
    const worker = new CliProcess([
      'worker',
      '--queue',
      name,
      '--tasks',
      tasksModule(),
      '--kind',
      'inline',
      '--concurrency',
      '3',
      '--quiet',
    ]);
    try {
      await worker.waitFor(/inline x3/);
      await runCli(['enqueue', 'add', '--queue', name, '--args', '[2, 2]']);
      await waitFor(
        'the task to finish',
        () => /ok/.test(worker.stdout) || redis.llen(`delayed:{${name}}:waiting`).then((n) => n === 0),
        15_000,
        25,
      );
      await new Promise((r) => setTimeout(r, 300));
      worker.proc.kill('SIGTERM');
      assert.equal((await worker.exited).code, 0);
      assert.doesNotMatch(worker.stdout, /\bok +add\b/);
      assert.match(worker.stdout, /worker stopped: 1 ok, 0 failed/);
    } finally {
      await worker.kill();
    }
  });

  test('a tasks module that is missing, does not load or defines no task exits 4 and says so', async () => {
    const name = queue('wrk');
    const missing = await runCli(['worker', '--queue', name, '--tasks', './no/such/tasks.js']);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /--tasks \.\/no\/such\/tasks\.js: no such file \(looked for \/.*\/no\/such\/tasks\.js\)/);

    const broken = tasksModule('throw new Error("cannot start: DATABASE_URL is not set");\n');
    for (const kind of ['preforked', 'inline']) {
      const r = await runCli(['worker', '--queue', name, '--tasks', broken, '--kind', kind]);
      assert.equal(r.code, 4, `${kind}: ${r.stderr}`);
      assert.match(r.stderr, /Task module .*tasks\.mjs: failed to load: cannot start: DATABASE_URL is not set/);
    }

    const empty = tasksModule('export const notATask = () => 1;\n');
    for (const kind of ['forked', 'inline']) {
      const r = await runCli(['worker', '--queue', name, '--tasks', empty, '--kind', kind]);
      assert.equal(r.code, 4, `${kind}: ${r.stderr}`);
      assert.match(r.stderr, /defines no task/);
      assert.match(r.stderr, /defineTask/);
    }

    const ts = tasksModule();
    const tsPath = `${dirname(ts)}/tasks.ts`;
    writeFileSync(tsPath, 'export const x: number = 1;\n');
    const typescript = await runCli(['worker', '--queue', name, '--tasks', tsPath, '--kind', 'inline']);
    assert.equal(typescript.code, 4);
    // tsx is installed here, so the command loads the .ts module itself (no build needed): it defines no task.
    // Without tsx it says how to install it (test/newcomer.test.ts).
    assert.match(typescript.stderr, /tasks\.ts: defines no task/);
    assert.equal(await redis.exists(`delayed:{${name}}:workers`), 0);
  });
});

describe('delayed sweeper', { timeout: 180_000 }, () => {
  test('puts back the tasks of a worker whose lease ran out, logs it, stops on SIGTERM', async () => {
    const name = queue('swp');
    const k = (s: string) => `delayed:{${name}}:${s}`;
    const entry = '1|0|0||dead.1|add|60000|3|[1,2]';
    await redis.zadd(k('workers'), Date.now() - 60_000, 'gone.1.x');
    await redis.lpush(k('worker:gone.1.x'), entry);
    const sweeper = new CliProcess(['sweeper', '--queue', name, '--interval', '100']);
    try {
      await sweeper.waitFor(/^sweeper started: queue \S+ on redis:\/\/\S+, every 100 ms/m);
      const back = await waitFor('the entry back in the queue', async () => (await redis.lrange(k('waiting'), 0, -1))[0], 15_000, 25);
      assert.equal(back, '1|1|1|lost|dead.1|add|60000|3|[1,2]');
      await waitFor('the log line', () => /recovered tasks of workers whose lease ran out.*"recovered":1/.test(sweeper.stderr), 15_000, 25);
      sweeper.proc.kill('SIGTERM');
      assert.equal((await sweeper.exited).code, 0);
      assert.match(sweeper.stdout, /sweeper stopped/);
    } finally {
      await sweeper.kill();
    }
  });
});

describe('delayed demo', { timeout: 180_000 }, () => {
  test('runs against the given Redis: every task completes, none is lost, the keys are cleaned up', async () => {
    const r = await runCli(['demo', '--tasks', '300', '--json'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(summary.lost, 0);
    assert.equal(summary.enqueued, 300);
    assert.equal(summary.completed, 300);
    assert.equal(summary.redis, 'given');
    assert.equal(typeof summary.recoveryMs, 'number');
    assert.ok((summary.recoveryMs as number) < 10_000, `recovery took ${summary.recoveryMs} ms`);
    assert.ok((summary.runTwice as number) <= (summary.killedWorkerHeld as number), 'only tasks the killed worker held may run twice');
    assert.deepEqual(summary.keysLeft, []);
    // What may stay besides: the sweeper's watch over the killed worker's list (it ends by itself).
    const watchKeys = summary.watchKeys as string[];
    assert.ok(
      watchKeys.every((k) => /:retired(-check)?$/.test(k)),
      watchKeys.join(' '),
    );
    assert.match(r.stderr, /kill -9 worker 1/);
    assert.equal(
      await redis.exists(`delayed:{${summary.queue as string}}:epoch`, `delayed-demo:{${summary.queue as string}}:runs`),
      0,
      'the demo left keys behind',
    );
  });

  test('without redis-server and without REDIS_URL it says how to get one (exit 3)', async () => {
    // A PATH with nothing on it: the CLI itself is started by its absolute path.
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: mkdtempSync(join(tmpdir(), 'delayed-empty-path-')) };
    delete env.REDIS_URL;
    const r = await runCli(['demo', '--tasks', '10'], { env });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /the demo needs redis-server, and it is not installed here/);
    assert.match(r.stderr, /apt-get install redis-server/);
    assert.match(r.stderr, /REDIS_URL=redis:\/\/host:6379/);
  });
});
