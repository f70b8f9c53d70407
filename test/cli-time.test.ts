// The command line for issue 12: `delayed enqueue --delay`, `delayed schedules` (list, --json, --remove), and
// the status lines for scheduled tasks and schedules (shown only when the queue has them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { duration } from '../src/cli/enqueue.ts';
import { add } from './fixtures/tasks.ts';
import { useInspector, REDIS_URL, withQueue, redisNow } from './helpers.ts';

const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname;

const redis = useInspector();

function delayed(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, REDIS_URL },
    timeout: 60_000,
  });
}

test('durations: ms, s, m, h, d and decimals; anything else is a usage error', () => {
  assert.deepEqual(
    ['500ms', '30s', '5m', '2h', '1d', '1.5s', '250'].map(duration),
    [500, 30_000, 300_000, 7_200_000, 86_400_000, 1500, 250],
  );
  for (const bad of ['', '-1s', '5 minutes', '1e3', 's']) assert.throws(() => duration(bad), /--delay: expected a duration such as 500ms/);
});

test('delayed enqueue --delay 30s schedules the task 30 s ahead on Redis clock; status shows it', () =>
  withQueue(redis, async (q) => {
    const before = await redisNow(redis);
    const r = delayed('enqueue', 'add', '--queue', q.name, '--args', '[1, 2]', '--delay', '30s', '--retries', '2');
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    const [listed] = await q.scheduled();
    assert.equal(listed?.id, id);
    const ahead = (listed?.dueAt.getTime() ?? 0) - before;
    assert.ok(ahead >= 30_000 && ahead < 40_000, `due ${ahead} ms ahead`);
    assert.match((await redis.zrange(q.keys.scheduled, 0, 0))[0] ?? '', /\|f=0;r=2\|\[1,2\]$/);
    const asked = await redisNow(redis);
    const status = delayed('status', '--queue', q.name);
    const answered = await redisNow(redis);
    assert.equal(status.status, 0, status.stderr);
    // The due time as status sees it: 30 s after the enqueue, less what passed until status read it (a loaded
    // machine takes seconds to start the command), shown to 0.1 s.
    const shown = /^ {2}scheduled +1 +next due in (\d+(?:\.\d)?) ?s/m.exec(status.stdout);
    assert.ok(shown, status.stdout);
    const dueIn = Number(shown[1]) * 1000;
    const dueAt = listed!.dueAt.getTime();
    assert.ok(dueIn <= dueAt - asked + 100 && dueIn >= dueAt - answered - 100, `due in ${dueIn} ms, asked ${dueAt - asked} ms before it`);
    assert.doesNotMatch(status.stdout, /Nothing in Redis/, 'a queue with a scheduled task is not empty');
    assert.doesNotMatch(status.stdout, /schedules/);
    const bad = delayed('enqueue', 'add', '--queue', q.name, '--delay', 'soon');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--delay: expected a duration/);
  }));

test('delayed schedules lists, prints JSON and removes; status counts them', () =>
  withQueue(redis, async (q) => {
    const empty = delayed('schedules', '--queue', q.name);
    assert.equal(empty.status, 0, empty.stderr);
    assert.match(empty.stdout, /^no schedules on /);
    await q.schedule('nightly', { cron: '0 3 * * *', tz: 'Europe/Berlin', task: add, args: [1, 2] });
    await q.schedule('beat', { everyMs: 60_000, task: add, args: [0, 0], missed: { backfill: 2 }, overlap: 'skip' });
    const table = delayed('schedules', '--queue', q.name);
    assert.equal(table.status, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^ID +WHEN +TASK +NEXT \(Redis clock\) +POLICY$/);
    assert.match(lines[1] ?? '', /^beat +every 60000 ms +add +\d{4}-\d\d-\d\dT\S+ +missed backfill 2, overlap skip$/);
    assert.match(lines[2] ?? '', /^nightly +cron 0 3 \* \* \* \(Europe\/Berlin\) +add +\S+ +missed latest, overlap allow$/);
    const json = delayed('schedules', '--queue', q.name, '--json');
    const parsed = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; args: unknown[] });
    assert.deepEqual(
      parsed.map((p) => [p.id, p.args]),
      [
        ['beat', [0, 0]],
        ['nightly', [1, 2]],
      ],
    );
    const status = delayed('status', '--queue', q.name);
    assert.match(status.stdout, /^ {2}schedules +2 +\(delayed schedules --queue /m);
    const removed = delayed('schedules', '--queue', q.name, '--remove', 'beat');
    assert.equal(removed.status, 0, removed.stderr);
    assert.equal(removed.stdout, 'removed beat\n');
    const again = delayed('schedules', '--queue', q.name, '--remove', 'beat');
    assert.equal(again.status, 1);
    assert.match(again.stderr, /no schedule "beat"/);
    assert.deepEqual(
      (await q.schedules()).map((s) => s.id),
      ['nightly'],
    );
  }));
