// `delayed dashboard` from the command line (its options, read-only default, the token from the environment,
// actions logged), and the dashboard on a private 3-master Redis Cluster with a 3-partition queue.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Queue, queueStatus } from '../src/index.ts';
import { startCluster } from '../scripts/redis-cluster.mjs';
import { CliProcess, killAll, runCli, uniqueName } from './cli-support.ts';
import { getJson, makeDeadLetters, post, startDashboard, TOKEN } from './dashboard-support.ts';
import { dropQueue, inspector, REDIS_URL } from './helpers.ts';

const redis = inspector();
const made: string[] = [];
after(async () => {
  await killAll();
  for (const name of made) await dropQueue(redis, name);
  redis.disconnect();
});

describe('delayed dashboard', { timeout: 120_000 }, () => {
  test('serves several queues read-only on 127.0.0.1; stops on SIGTERM', async () => {
    const [a, b] = [uniqueName('dash-a'), uniqueName('dash-b')];
    made.push(a, b);
    await redis.lpush(`delayed:{${a}}:waiting`, '1|0|0||x.1|nap|60000|3|[1]');
    const cli = new CliProcess(['dashboard', '--queue', a, '--queue', b, '--port', '0']);
    const [, url] = await cli.waitFor(/(http:\/\/127\.0\.0\.1:\d+\/) \(read-only\)/);
    const config = await getJson(`${url}api/config`);
    assert.deepEqual(
      config.body.queues.map((q: { name: string }) => q.name),
      [a, b],
    );
    assert.equal(config.body.allowActions, false);
    const queues = await getJson(`${url}api/queues`);
    assert.deepEqual(
      queues.body.queues.map((q: { waiting: number }) => q.waiting),
      [1, 0],
    );
    assert.equal((await post(`${url}api/queues/${a}/dead/requeue-all`, {}, `Bearer ${TOKEN}`)).status, 403);
    assert.deepEqual(await cli.stop(), { code: 0, signal: null });
  });

  test('--allow-actions takes the token from DELAYED_DASHBOARD_TOKEN, refuses without it, and logs each action', async () => {
    const name = uniqueName('dash-act');
    made.push(name);
    const refused = await runCli(['dashboard', '--queue', name, '--port', '0', '--allow-actions']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--allow-actions needs --token TOKEN \(or DELAYED_DASHBOARD_TOKEN\)/);
    const short = await runCli(['dashboard', '--queue', name, '--port', '0', '--allow-actions', '--token', 'short']);
    assert.equal(short.code, 2);
    assert.match(short.stderr, /at least 16 characters/);

    const cli = new CliProcess(['dashboard', '--queue', name, '--port', '0', '--allow-actions'], {
      ...process.env,
      REDIS_URL,
      DELAYED_DASHBOARD_TOKEN: TOKEN,
    });
    const [, url] = await cli.waitFor(/(http:\/\/127\.0\.0\.1:\d+\/) \(actions enabled/);
    assert.equal((await post(`${url}api/queues/${name}/dead/requeue-all`, {})).status, 401);
    assert.equal((await post(`${url}api/queues/${name}/dead/requeue-all`, {}, `Bearer ${TOKEN}`)).status, 200);
    await cli.stop();
    assert.match(cli.stderr, /WARN dashboard action refused: no valid token .*"action":"requeue-all"/);
    assert.match(cli.stderr, /INFO dashboard action: requeue-all .*"ip":"(::ffff:)?127\.0\.0\.1"/);
  });

  test('a port in use fails with exit code 1 and says so', async () => {
    const name = uniqueName('dash-port');
    const first = new CliProcess(['dashboard', '--queue', name, '--port', '0']);
    const [, port] = await first.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\//);
    const second = await runCli(['dashboard', '--queue', name, '--port', port as string]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /cannot listen on 127\.0\.0\.1:\d+/);
    await first.stop();
  });
});

describe('dashboard on a Redis Cluster', { timeout: 120_000 }, () => {
  test('a 3-partition queue: figures equal queueStatus, dead letters from every partition, requeue works', async () => {
    const cluster = await startCluster();
    const q = new Queue({ name: uniqueName('dash-cluster'), redis: cluster.url, partitions: 3, deadLetters: 100 });
    try {
      const keys = Array.from({ length: 9 }, (_, i) => `key-${i}`);
      await makeDeadLetters(
        q,
        keys.map((k) => ({ message: `failed ${k}` })),
        keys,
      );
      await q.enqueue('nap', [1]);
      const d = await startDashboard({ queue: q, allowActions: true, token: TOKEN });
      try {
        const s = await queueStatus(q);
        const o = (await getJson(`${d.url}api/queues`)).body.queues[0];
        assert.equal(o.partitions, 3);
        for (const f of ['waiting', 'inFlight', 'deadLetters', 'workersAlive'] as const) assert.equal(o[f], s[f], f);
        assert.equal(o.deadLetters, 9);
        const page = (await getJson(`${d.url}api/queues/${q.name}/dead?limit=100`)).body;
        assert.equal(page.letters.length, 9);
        assert.ok(new Set(page.letters.map((l: { partition: number }) => l.partition)).size >= 2, 'records from several partitions');
        const letter = page.letters[page.letters.length - 1];
        assert.equal((await post(`${d.url}api/queues/${q.name}/dead/requeue`, letter, `Bearer ${TOKEN}`)).status, 200);
        assert.equal(
          await q.redis.llen(q.partitions[letter.partition]!.dead),
          page.letters.filter((l: { partition: number }) => l.partition === letter.partition).length - 1,
        );
        assert.equal((await post(`${d.url}api/queues/${q.name}/dead/requeue-all`, {}, `Bearer ${TOKEN}`)).body.requeued, 8);
        assert.equal((await queueStatus(q)).waiting, 10);
      } finally {
        await d.close();
      }
    } finally {
      await q.close();
      await cluster.stop();
    }
  });
});
