// The dashboard's request handler over plain HTTP, against the test Redis: read-only by default, the token
// enforced on every action (and nothing changed without it), the 1 s cache shared by all requests, mounting
// under a base path, the JSON shapes and figures (equal to queueStatus), dead-letter pages over partitions,
// and the dead-letter library API itself.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { queueStatus } from '../src/index.ts';
import { createDashboard, deleteDeadLetter, listDeadLetters, requeueAllDeadLetters, requeueDeadLetter } from '../src/dashboard/index.ts';
import { InvalidOptionError } from '../src/errors.ts';
import { getJson, makeDeadLetters, monitorQueue, post, registerFakeWorker, startDashboard, TOKEN } from './dashboard-support.ts';
import { inspector, ON_CLUSTER, withQueue } from './helpers.ts';

const redis = inspector();
after(() => redis.disconnect());

const bearer = `Bearer ${TOKEN}`;

describe('dashboard over HTTP', { timeout: 120_000 }, () => {
  test('read-only by default: actions answer 403 and change nothing; pages carry a strict CSP', async () => {
    await withQueue(
      redis,
      async (q) => {
        await makeDeadLetters(q, [{ message: 'one' }]);
        const d = await startDashboard({ queue: q });
        try {
          const page = await getJson(`${d.url}api/queues/${q.name}/dead`);
          const letter = page.body.letters[0];
          for (const what of ['requeue', 'delete', 'requeue-all']) {
            const r = await post(`${d.url}api/queues/${q.name}/dead/${what}`, letter, bearer);
            assert.equal(r.status, 403, `${what} is refused when actions are off`);
          }
          assert.equal(await redis.llen(q.keys.dead), 1, 'the dead letter is still there');
          assert.equal(await redis.llen(q.keys.waiting), 0, 'nothing was requeued');
          const html = await fetch(d.url);
          assert.equal(html.status, 200);
          const csp = html.headers.get('content-security-policy') ?? '';
          assert.match(csp, /default-src 'none'/);
          assert.match(csp, /script-src 'self'(;|$)/, 'no inline or foreign script');
          assert.equal(html.headers.get('x-content-type-options'), 'nosniff');
          assert.doesNotMatch(await html.text(), /<script>|onerror|style=/, 'the shell has no inline script or style');
          const config = await getJson(`${d.url}api/config`);
          assert.equal(config.body.allowActions, false);
          assert.deepEqual(config.body.queues, [{ name: q.name, partitions: 1 }]);
          const available = config.body.features.filter((f: { available: boolean }) => f.available).map((f: { key: string }) => f.key);
          assert.deepEqual(available, ['scheduled', 'cron', 'results', 'cancel', 'pause', 'progress'], 'what the library has');
        } finally {
          await d.close();
        }
      },
      { deadLetters: 100 },
    );
  });

  test('with actions on, no token or a wrong one gets 401 and changes nothing; bearer and basic auth work', async () => {
    await withQueue(
      redis,
      async (q) => {
        await makeDeadLetters(q, [{ message: 'a' }, { message: 'b' }, { message: 'c' }]);
        const logged: { fields: Record<string, unknown>; message: string }[] = [];
        const logger = {
          debug() {},
          warn() {},
          error() {},
          info: (fields: object, message: string) => void logged.push({ fields: fields as Record<string, unknown>, message }),
        };
        const d = await startDashboard({ queue: q, allowActions: true, token: TOKEN, logger });
        try {
          const letters = (await getJson(`${d.url}api/queues/${q.name}/dead`)).body.letters;
          assert.equal(letters.length, 3);
          assert.equal('record' in letters[0], false, 'the record bytes are not sent to the browser');
          const before = await redis.lrange(q.keys.dead, 0, -1);
          const wrong = [
            undefined,
            'Bearer nope',
            `Bearer ${TOKEN}x`,
            `Basic ${Buffer.from(`ops:${TOKEN.slice(1)}`).toString('base64')}`,
            TOKEN,
          ];
          for (const auth of wrong) {
            for (const what of ['requeue', 'delete', 'requeue-all']) {
              const r = await post(`${d.url}api/queues/${q.name}/dead/${what}`, letters[0], auth);
              assert.equal(r.status, 401, `${what} with ${String(auth)}`);
              assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
            }
          }
          assert.deepEqual(await redis.lrange(q.keys.dead, 0, -1), before, 'nothing changed');
          assert.equal(await redis.llen(q.keys.waiting), 0);
          // A GET cannot act, and a form post (no JSON content type) is refused even with the token.
          assert.equal((await getJson(`${d.url}api/queues/${q.name}/dead/requeue`)).status, 404);
          const form = await getJson(`${d.url}api/queues/${q.name}/dead/delete`, {
            method: 'POST',
            headers: { authorization: bearer, 'content-type': 'application/x-www-form-urlencoded' },
            body: 'a=1',
          });
          assert.equal(form.status, 415);

          const requeue = await post(`${d.url}api/queues/${q.name}/dead/requeue`, letters[0], bearer);
          assert.equal(requeue.status, 200);
          const waiting = await redis.lrange(q.keys.waiting, 0, -1);
          assert.equal(waiting.length, 1);
          assert.match(
            waiting[0] as string,
            new RegExp(`^1\\|1\\|0\\|\\|${letters[0].id.replace('.', '\\.')}\\|explode\\|`),
            'attempt + 1, cut-offs 0',
          );
          assert.equal(
            (await post(`${d.url}api/queues/${q.name}/dead/requeue`, letters[0], bearer)).status,
            409,
            'the same letter twice: requeued once',
          );
          assert.equal(await redis.llen(q.keys.waiting), 1);

          const basic = `Basic ${Buffer.from(`ops:${TOKEN}`).toString('base64')}`;
          assert.equal((await post(`${d.url}api/queues/${q.name}/dead/delete`, letters[1], basic)).status, 200);
          assert.equal(await redis.llen(q.keys.dead), 1);
          const all = await post(`${d.url}api/queues/${q.name}/dead/requeue-all`, {}, bearer);
          assert.deepEqual(all.body, { requeued: 1, skipped: 0 });
          assert.equal(await redis.llen(q.keys.dead), 0);
          assert.equal(await redis.llen(q.keys.waiting), 2);
          assert.deepEqual(
            logged.map((l) => [l.fields.action, l.fields.user]),
            [
              ['requeue', null],
              ['delete', 'ops'],
              ['requeue-all', null],
            ],
          );
          assert.ok(
            logged.every((l) => typeof l.fields.ip === 'string' && l.fields.queue === q.name),
            'each action names the queue and the address',
          );
        } finally {
          await d.close();
        }
      },
      { deadLetters: 100 },
    );
  });

  test('the options are checked: actions need a token of 16+ characters', () => {
    assert.throws(() => createDashboard({ queue: 'x', allowActions: true }), InvalidOptionError);
    assert.throws(() => createDashboard({ queue: 'x', allowActions: true, token: 'short' }), /at least 16/);
    assert.throws(() => createDashboard({}), /Expected `queue` or `queues`/);
    assert.throws(() => createDashboard({ queue: 'x', basePath: 'no-slash' }), /basePath/);
  });

  test('figures and JSON shapes match queueStatus(); the workers page lists each worker with its tasks', async () => {
    await withQueue(
      redis,
      async (q) => {
        await makeDeadLetters(q, [{ message: 'x' }, { message: 'y' }]);
        for (let i = 0; i < 7; i++) await q.enqueue('nap', [i]);
        await registerFakeWorker(q, 'w-one', 600_000, [{ id: 'task-1', name: 'nap', attempt: 0, forMs: 1500 }]);
        await redis.lpush(q.keys.worker('w-one'), '1|0|0||task-1|nap|60000|3|[0]'); // what it runs, as the lookup reads it
        await registerFakeWorker(q, 'w-two');
        const d = await startDashboard({ queue: q });
        try {
          const [page, workers] = await Promise.all([getJson(`${d.url}api/queues`), getJson(`${d.url}api/queues/${q.name}/workers`)]);
          const s = await queueStatus(q);
          const o = page.body.queues[0];
          for (const field of ['waiting', 'inFlight', 'deadLetters', 'workersAlive', 'workersExpired', 'partitions'] as const)
            assert.equal(o[field], s[field], field);
          assert.deepEqual(o.next, s.next);
          assert.ok(Array.isArray(o.history));
          assert.deepEqual(workers.body.workers.map((w: { id: string }) => w.id).sort(), ['w-one', 'w-two']);
          const one = workers.body.workers.find((w: { id: string }) => w.id === 'w-one');
          assert.equal(one.host, 'fake-host');
          assert.equal(one.pid, 4242);
          assert.equal(one.kind, 'inline');
          assert.equal(one.concurrency, 4);
          assert.equal(typeof one.leaseAgeMs, 'number');
          assert.deepEqual(
            one.tasks.map((t: { id: string }) => t.id),
            ['task-1'],
          );
          assert.ok(one.tasks[0].forMs >= 1500);
          const found = await getJson(`${d.url}api/queues/${q.name}/tasks/task-1`);
          assert.deepEqual([found.body.state, found.body.workerId], ['running', 'w-one'], 'the library lookup (queue.task)');
          const dead = (await getJson(`${d.url}api/queues/${q.name}/dead`)).body.letters[0];
          const lookup = await getJson(`${d.url}api/queues/${q.name}/tasks/${encodeURIComponent(dead.id)}`);
          assert.deepEqual([lookup.body.state, lookup.body.message], ['failed', dead.message]);
          assert.equal((await getJson(`${d.url}api/queues/${q.name}/tasks/nothing-like-it`)).body.state, 'unknown');
          assert.equal((await getJson(`${d.url}api/queues/${q.name}/tasks/a%7Cb`)).status, 400, 'an id with | names no task');
          assert.equal((await getJson(`${d.url}api/queues/nope/workers`)).status, 404);
          assert.equal(
            (await getJson(`${d.url}api/queues/${q.name}/tasks/%E0%A4%A`)).status,
            400,
            'a malformed path is bad input, not a Redis failure',
          );
          assert.equal((await getJson(`${d.url}api/queues/${q.name}/dead?limit=101`)).status, 400, 'pages hold at most 100 rows');
        } finally {
          await d.close();
        }
      },
      { deadLetters: 100 },
    );
  });

  test('one status read per second, however many requests: concurrent ones share it, a later one reads again', {
    skip: ON_CLUSTER && 'MONITOR needs a single Redis',
  }, async () => {
    await withQueue(redis, async (q) => {
      await q.enqueue('nap', [1]);
      const d = await startDashboard({ queue: q });
      const monitor = await monitorQueue(q);
      try {
        const started = performance.now();
        const burst = () =>
          Promise.all(Array.from({ length: 10 }, (_, i) => getJson(`${d.url}api/${i % 2 ? 'queues' : `queues/${q.name}/workers`}`)));
        for (const r of await burst()) assert.equal(r.status, 200);
        // The cached read began before this instant (at load, maybe hundreds of ms after `started`).
        const firstDone = performance.now();
        await monitor.settle();
        // A status read is one MULTI with one LLEN of `waiting`: count those.
        const waitingReads = () => monitor.seen.filter((a) => a[0]?.toLowerCase() === 'llen' && a[1] === q.keys.waiting).length;
        assert.equal(waitingReads(), 1, '10 concurrent requests, one read');
        await burst();
        await monitor.settle();
        if (performance.now() - started < 900) assert.equal(waitingReads(), 1, 'within the second: served from the cache');
        // The cache holds a read for 1 s from when it began: past firstDone + 1 s (+ 100 ms) it is stale.
        await new Promise((r) => setTimeout(r, Math.max(0, 1100 - (performance.now() - firstDone))));
        await burst();
        await monitor.settle();
        assert.ok(waitingReads() >= 2 && waitingReads() <= 3, `after the second: read again (${waitingReads()} reads)`);
      } finally {
        await monitor.stop();
        await d.close();
      }
    });
  });

  test('mounts under a base path: given as basePath, or stripped by the framework (Express sets originalUrl)', async () => {
    await withQueue(redis, async (q) => {
      const handler = createDashboard({ queue: q, basePath: '/admin/queues' });
      const express = createDashboard({ queue: q });
      const server = createServer((req, res) => {
        if (req.url?.startsWith('/admin/')) return handler(req, res);
        if (req.url?.startsWith('/mounted')) {
          // What Express does for app.use('/mounted', handler): strip the prefix, keep originalUrl.
          Object.assign(req, { originalUrl: req.url, url: req.url.slice('/mounted'.length) || '/' });
          return express(req, res);
        }
        res.writeHead(404).end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        for (const prefix of ['/admin/queues', '/mounted']) {
          const bare = await fetch(`${base}${prefix}`, { redirect: 'manual' });
          assert.equal(bare.status, 301, `${prefix} without a slash redirects`);
          assert.equal(bare.headers.get('location'), `${prefix}/`);
          const html = await fetch(`${base}${prefix}/`);
          assert.match(await html.text(), /<script src="app.js" defer><\/script>/, 'relative asset URLs');
          assert.equal((await fetch(`${base}${prefix}/app.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
          assert.equal((await getJson(`${base}${prefix}/api/queues`)).body.queues[0].name, q.name);
          assert.equal((await fetch(`${base}${prefix}/api/nothing`)).status, 404);
        }
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });
  });

  test('a body a framework parsed already (express.json()) is used as it is', async () => {
    await withQueue(
      redis,
      async (q) => {
        await makeDeadLetters(q, [{ message: 'parsed' }]);
        const handler = createDashboard({ queue: q, allowActions: true, token: TOKEN });
        const server = createServer(async (req, res) => {
          let text = '';
          for await (const chunk of req) text += String(chunk);
          if (text) Object.assign(req, { body: JSON.parse(text) });
          handler(req, res);
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
        try {
          const letter = (await getJson(`${base}api/queues/${q.name}/dead`)).body.letters[0];
          const r = await post(`${base}api/queues/${q.name}/dead/requeue`, letter, bearer);
          assert.equal(r.status, 200, JSON.stringify(r.body));
          assert.equal(await redis.llen(q.keys.waiting), 1);
        } finally {
          server.closeAllConnections();
          await new Promise((r) => server.close(r));
        }
      },
      { deadLetters: 100 },
    );
  });

  test('dead letters over 3 partitions: pages cover every record once; requeue goes to its own partition', async () => {
    await withQueue(
      redis,
      async (q) => {
        const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
        await makeDeadLetters(
          q,
          keys.map((k) => ({ message: `m-${k}` })),
          keys,
        );
        const sizes = await Promise.all(q.partitions.map((p) => redis.llen(p.dead)));
        assert.ok(sizes.filter((n) => n > 0).length >= 2, `records in several partitions (${sizes.join(', ')})`);
        const seen: string[] = [];
        for (let offset = 0; offset < 12; offset += 5) {
          const page = await listDeadLetters(q, { offset, limit: 5 });
          assert.equal(page.total, 12);
          seen.push(...page.letters.map((l) => l.message));
        }
        assert.deepEqual(seen.sort(), keys.map((k) => `m-${k}`).sort());
        const last = (await listDeadLetters(q, { offset: 11, limit: 5 })).letters[0]!;
        assert.equal(await requeueDeadLetter(q, last), true);
        assert.equal(await requeueDeadLetter(q, last), false, 'a second requeue of the same record does nothing');
        assert.equal(await deleteDeadLetter(q, last), false);
        assert.equal(await redis.llen(q.partitions[last.partition]!.waiting), 1, 'back in the partition it failed in');
        assert.deepEqual(await requeueAllDeadLetters(q), { requeued: 11, skipped: 0 });
        assert.equal((await listDeadLetters(q)).total, 0);
        await assert.rejects(listDeadLetters(q, { limit: 101 }), /Expected `limit` to be an integer from 1 to 100, got `101`/);
      },
      { deadLetters: 100, partitions: 3 },
    );
  });

  test('scheduled page over 3 partitions: the cursor pages cover every task once, earliest first; schedules with their next due', async () => {
    await withQueue(
      redis,
      async (q) => {
        for (let i = 0; i < 7; i++) await q.enqueue('nap', [i], { delayMs: 60_000 + i * 1000 });
        // Retries as lua/retry.lua leaves them, in chosen partitions, two of them due at the same instant.
        const due = (await redis.time()).map(Number);
        const at = due[0]! * 1000 + 30_000;
        for (const [p, n] of [
          [0, 1],
          [1, 2],
          [2, 3],
          [2, 4],
          [1, 5],
        ] as const)
          await redis.zadd(q.partitions[p]!.scheduled, at + (n >= 4 ? 0 : n), `1|${n}|0||retry-${n}|nap|60000|9|f=${n}|["<b>${n}</b>"]`);
        await q.schedule('nightly', { cron: '0 3 * * *', tz: 'Europe/Berlin', task: 'nap', args: [1] });
        await q.schedule('beat', { everyMs: 60_000, task: 'nap', overlap: 'skip' });
        const d = await startDashboard({ queue: q });
        try {
          const s = await queueStatus(q);
          const o = (await getJson(`${d.url}api/queues`)).body.queues[0];
          assert.deepEqual([o.scheduled, o.nextDueAt, o.schedules], [s.scheduled, s.nextDueAt, s.schedules]);
          assert.deepEqual([s.scheduled, s.schedules], [12, 2]);
          const seen: { id: string; dueAt: number; failures: number; args: string }[] = [];
          let cursor = '';
          for (let pages = 0; pages < 10; pages++) {
            const r = await getJson(`${d.url}api/queues/${q.name}/scheduled?cursor=${cursor}&limit=5`);
            assert.equal(r.status, 200, JSON.stringify(r.body));
            assert.equal(r.body.tasks.total, 12);
            assert.ok(r.body.tasks.tasks.length <= 5);
            seen.push(...r.body.tasks.tasks);
            if (r.body.tasks.next === null) break;
            cursor = r.body.tasks.next.join(',');
          }
          const library = await q.scheduled({ count: 100 });
          assert.deepEqual(seen.map((t) => t.id).sort(), library.map((t) => t.id).sort(), 'every scheduled task once');
          assert.deepEqual(
            seen.map((t) => t.dueAt),
            library.map((t) => t.dueAt.getTime()),
            'earliest due first, across partitions',
          );
          const retry = seen.find((t) => t.id === 'retry-5')!;
          assert.deepEqual([retry.failures, retry.args], [5, '["<b>5</b>"]'], 'failures, and the arguments as text');
          const schedules = (await getJson(`${d.url}api/queues/${q.name}/scheduled?limit=1`)).body.schedules;
          assert.equal(schedules.total, 2);
          const listed = await q.schedules();
          const first = [...listed].sort((a, b) => a.nextDueAt!.getTime() - b.nextDueAt!.getTime())[0]!;
          assert.equal(schedules.schedules.length, 1, 'paged: limit 1');
          assert.equal(schedules.schedules[0].id, first.id, 'the earliest next due first');
          assert.equal(schedules.schedules[0].nextDueAt, first.nextDueAt!.getTime());
          const both = (await getJson(`${d.url}api/queues/${q.name}/scheduled?schedulesOffset=0`)).body.schedules.schedules;
          const nightly = both.find((x: { id: string }) => x.id === 'nightly');
          assert.deepEqual([nightly.cron, nightly.tz, nightly.everyMs, nightly.running], ['0 3 * * *', 'Europe/Berlin', null, null]);
          assert.equal(both.find((x: { id: string }) => x.id === 'beat').everyMs, 60_000);
          for (const bad of ['cursor=1,2', 'cursor=a,0,0', 'limit=101', 'schedulesOffset=-1'])
            assert.equal((await getJson(`${d.url}api/queues/${q.name}/scheduled?${bad}`)).status, 400, bad);
        } finally {
          await d.close();
        }
      },
      { partitions: 3 },
    );
  });

  test('run now: a scheduled task of any partition moves to its waiting list once; refused without actions or token', async () => {
    await withQueue(
      redis,
      async (q) => {
        // Two retries due at the same instant in partition 2 (the digest tells them apart), one task in partition 1.
        const due = (await redis.time()).map(Number);
        const at = due[0]! * 1000 + 600_000;
        const twin = (n: number) => `1|${n}|0||twin-${n}|nap|60000|9|f=${n}|[${n}]`;
        await redis.zadd(q.partitions[2]!.scheduled, at, twin(1), at, twin(2));
        await redis.zadd(q.partitions[1]!.scheduled, at + 5, '1|0|0||solo|nap|60000|9|[0]');
        const readOnly = await startDashboard({ queue: q });
        const d = await startDashboard({ queue: q, allowActions: true, token: TOKEN });
        try {
          const rows = (await getJson(`${d.url}api/queues/${q.name}/scheduled`)).body.tasks.tasks;
          const target = rows.find((t: { id: string }) => t.id === 'twin-2');
          const ref = { partition: target.partition, dueAt: target.dueAt, digest: target.digest };
          assert.deepEqual([ref.partition, ref.dueAt], [2, at]);
          assert.equal((await post(`${readOnly.url}api/queues/${q.name}/scheduled/run-now`, ref, bearer)).status, 403);
          assert.equal((await post(`${d.url}api/queues/${q.name}/scheduled/run-now`, ref, undefined)).status, 401);
          assert.equal((await post(`${d.url}api/queues/${q.name}/scheduled/run-now`, ref, 'Bearer nope-nope-nope-nope')).status, 401);
          for (const bad of [
            { ...ref, digest: 'x' },
            { ...ref, dueAt: 'soon' },
            { ...ref, partition: -1 },
          ])
            assert.equal((await post(`${d.url}api/queues/${q.name}/scheduled/run-now`, bad, bearer)).status, 400, JSON.stringify(bad));
          assert.equal(await redis.zcard(q.partitions[2]!.scheduled), 2, 'nothing moved yet');
          const ok = await post(`${d.url}api/queues/${q.name}/scheduled/run-now`, ref, bearer);
          assert.equal(ok.status, 200, JSON.stringify(ok.body));
          assert.deepEqual(await redis.lrange(q.partitions[2]!.waiting, 0, -1), [twin(2)], 'that exact entry, unchanged');
          assert.deepEqual(await redis.zrange(q.partitions[2]!.scheduled, 0, -1), [twin(1)], 'its twin stays');
          assert.equal((await post(`${d.url}api/queues/${q.name}/scheduled/run-now`, ref, bearer)).status, 409, 'a second click');
          assert.equal(await redis.llen(q.partitions[2]!.waiting), 1);
          assert.equal(await redis.zcard(q.partitions[1]!.scheduled), 1, 'other partitions untouched');
        } finally {
          await readOnly.close();
          await d.close();
        }
      },
      { partitions: 3 },
    );
  });

  test('pause, resume and cancel: token-checked actions through the library; the overview shows the pause', async () => {
    await withQueue(redis, async (q) => {
      const readOnly = await startDashboard({ queue: q });
      const d = await startDashboard({ queue: q, allowActions: true, token: TOKEN });
      try {
        const id = await q.enqueue('nap', [1]);
        for (const [path, body] of [
          ['pause', {}],
          ['resume', {}],
          ['cancel', { id }],
        ] as const) {
          assert.equal((await post(`${readOnly.url}api/queues/${q.name}/${path}`, body, bearer)).status, 403, `${path} when read-only`);
          assert.equal((await post(`${d.url}api/queues/${q.name}/${path}`, body, undefined)).status, 401, `${path} without the token`);
        }
        assert.equal(await q.isPaused(), false, 'nothing changed');
        assert.equal(await redis.llen(q.keys.waiting), 1);

        assert.deepEqual((await post(`${d.url}api/queues/${q.name}/pause`, {}, bearer)).body, { paused: true });
        assert.equal(await q.isPaused(), true);
        await new Promise((r) => setTimeout(r, 1100)); // the overview's status read is cached for 1 s
        assert.equal((await getJson(`${d.url}api/queues`)).body.queues[0].paused, true);
        assert.equal((await queueStatus(q)).paused, true);
        assert.deepEqual((await post(`${d.url}api/queues/${q.name}/resume`, {}, bearer)).body, { paused: false });
        assert.equal(await q.isPaused(), false);

        assert.equal((await post(`${d.url}api/queues/${q.name}/cancel`, { id: 'a|b' }, bearer)).status, 400);
        const noId = await post(`${d.url}api/queues/${q.name}/cancel`, { id: 7 }, bearer);
        assert.deepEqual([noId.status, noId.body.error], [400, 'Expected a task id (1-200 characters without |), got `7`']);
        assert.deepEqual((await post(`${d.url}api/queues/${q.name}/cancel`, { id }, bearer)).body, { id, result: 'removed' });
        assert.equal(await redis.llen(q.keys.waiting), 0, 'the waiting task is gone');
        assert.deepEqual((await post(`${d.url}api/queues/${q.name}/cancel`, { id }, bearer)).body, { id, result: 'not-found' });
      } finally {
        await readOnly.close();
        await d.close();
      }
    });
  });

  test('Find a task reads at most 10,000 entries of a partition per request; Search further (cursor) reads on and finds it', async () => {
    await withQueue(
      redis,
      async (q) => {
        // Partition 1: the task taken next (pushed first: the far end from the newest), behind 10,500 newer ones.
        const keys = q.partitions[1]!;
        await redis.lpush(keys.waiting, '1|0|0||deep.0|nap|60000|3|[0]');
        for (let sent = 1; sent <= 10_500; sent += 500) {
          const batch: string[] = [];
          for (let i = sent; i < sent + 500; i++) batch.push(`1|0|0||deep.${i}|nap|60000|3|[${i}]`);
          await redis.lpush(keys.waiting, ...batch);
        }
        const newest = await q.enqueue('nap', [1]);
        const d = await startDashboard({ queue: q });
        try {
          assert.equal((await getJson(`${d.url}api/config`)).body.findScan, 10_000);
          assert.equal((await getJson(`${d.url}api/queues/${q.name}/tasks/${encodeURIComponent(newest)}`)).body.state, 'waiting');
          const first = await getJson(`${d.url}api/queues/${q.name}/tasks/deep.0`);
          assert.equal(first.body.state, 'unknown');
          assert.deepEqual(first.body.more.partitions, [1], 'partition 0 was read to its end, partition 1 was not');
          const further = await getJson(`${d.url}api/queues/${q.name}/tasks/deep.0?cursor=${encodeURIComponent(first.body.more.cursor)}`);
          assert.deepEqual([further.body.state, further.body.partition], ['waiting', 1]);
          const bad = await getJson(`${d.url}api/queues/${q.name}/tasks/deep.0?cursor=0.0.0`);
          assert.equal(bad.status, 400, 'a cursor for one partition, on a queue of two');
          assert.match(bad.body.error, /Expected `cursor` to be the `more.cursor` of an earlier lookup on this queue \(2 partition\(s\)\)/);
        } finally {
          await d.close();
        }
      },
      { partitions: 2 },
    );
  });
});
