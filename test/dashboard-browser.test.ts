// The dashboard in a real browser: Debian's headless Chromium driven by playwright-core (no browser download),
// against dashboards on the test Redis with real workers. The pages load without console errors, the figures
// equal queueStatus(), the chart moves as tasks finish, a requeue from the page lands in Redis, a missing or
// wrong token changes nothing, a payload holding <script> / <img onerror> shows as text and never runs, and
// the Scheduled page shows a task that runs later and a repeating schedule, and Cancel on a task's page stops a
// `while (true) {}` running in a preforked child (its process gone, the worker working on).
// Without Chromium these tests FAIL (they do not skip): install it (apt-get install chromium) or set
// CHROMIUM_PATH. With DASHBOARD_SCREENSHOTS=DIR they also save a PNG of each page there, to look at.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { InlineWorker, PreforkedWorker, queueStatus } from '../src/index.ts';
import { makeDeadLetters, nap, registerFakeWorker, startDashboard, TOKEN } from './dashboard-support.ts';
import { add, spin } from './fixtures/tasks.ts';
import { FIXTURES, inspector, isAlive, ledgerFile, readLedger, recorder, waitFor, withQueue } from './helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = process.env.DASHBOARD_SCREENSHOTS;
const redis = inspector();
let browser: Browser;

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}: the dashboard's browser tests need it. Install Debian's package (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH.`,
    );
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  redis.disconnect();
});

// (Polling from here, not page.waitForFunction: a string predicate is eval'd in the page, which the CSP forbids.)

/** A fresh page (its own context: its own sessionStorage) that records console errors and uncaught exceptions. */
async function open(url: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  await page.goto(url);
  return { page, errors };
}

async function field(page: Page, selector: string): Promise<number> {
  const raw = await page.getAttribute(selector, 'data-value', { timeout: 15_000 });
  return Number(raw);
}

async function shot(page: Page, name: string): Promise<void> {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `browser-test-${name}.png`), fullPage: true });
}

const XSS_ARG = '<script>window.__pwned = "arg"</script><img src=x onerror="window.__pwned = \'img\'">';
const XSS_MESSAGE = 'failed: <img src=x onerror="window.__pwned = \'message\'"><script>window.__pwned = "message"</script>';

describe('dashboard in headless Chromium', { timeout: 180_000 }, () => {
  test('every page loads without console errors; the figures are queueStatus()', async () => {
    await withQueue(
      redis,
      async (q) => {
        await makeDeadLetters(q, [
          { message: 'the mail server said 550', payload: { to: 'ann@example.com' } },
          { message: 'timeout talking to smtp', payload: { to: 'bob@example.com' } },
        ]);
        for (let i = 0; i < 5; i++) await nap.delay(q, 60_000);
        await registerFakeWorker(q, 'web-1.4242.a1', 600_000, [{ id: 'task-running-1', name: 'resize', attempt: 0, forMs: 2300 }]);
        await registerFakeWorker(q, 'web-2.4343.b2');
        const d = await startDashboard({ queue: q });
        const { page, errors } = await open(d.url);
        try {
          const s = await queueStatus(q);
          const section = `section[data-queue="${q.name}"]`;
          assert.equal(await field(page, `${section} [data-field=waiting]`), s.waiting);
          assert.equal(await field(page, `${section} [data-field=inFlight]`), s.inFlight);
          assert.equal(await field(page, `${section} [data-field=deadLetters]`), s.deadLetters);
          assert.equal(await field(page, `${section} [data-field=workersAlive]`), s.workersAlive);
          assert.equal(await field(page, `${section} [data-field=partitions]`), 1);
          assert.equal(s.waiting, 5);
          assert.equal(s.workersAlive, 2);
          await shot(page, 'queues');

          await page.click('nav a[data-page=workers]');
          await page.waitForSelector('tr[data-worker="web-1.4242.a1"] [data-task="task-running-1"]');
          assert.match((await page.textContent('tr[data-worker="web-1.4242.a1"]')) ?? '', /fake-host.*4242.*inline/s);
          await shot(page, 'workers');

          await page.click('nav a[data-page=dead]');
          await page.waitForSelector('[data-field=deadTotal]');
          assert.equal(await field(page, '[data-field=deadTotal]'), s.deadLetters);
          assert.equal(await page.locator('tbody tr').count(), 2);
          await shot(page, 'dead-letters');

          const id = s.recentDead[0]!.id;
          await page.click('nav a[data-page=task]');
          await page.fill('#task-id', id);
          await page.click('#task-form button');
          await page.waitForSelector('[data-field=state]');
          assert.match((await page.textContent('#content')) ?? '', /explode, attempt \d+\): failed.*Failed \(thrown\)/s);
          await shot(page, 'task');
          // A few refreshes go by before the errors are read.
          await waitFor('a refresh of the page', async () => /updated/.test((await page.textContent('#live')) ?? ''), 15_000);
          assert.deepEqual(errors, []);
        } finally {
          await page.context().close();
          await d.close();
        }
      },
      { deadLetters: 100 },
    );
  });

  test('the chart moves as a real worker finishes tasks', async () => {
    await withQueue(redis, async (q) => {
      // The worker reports its counters with each lease renewal (every second with the default lease).
      const worker = new InlineWorker({ queue: q, tasks: [nap], handleSignals: false, concurrency: 4 });
      const running = worker.run();
      const d = await startDashboard({ queue: q });
      const { page, errors } = await open(d.url);
      try {
        const chart = `section[data-queue="${q.name}"] svg.chart`;
        await page.waitForSelector(chart);
        assert.equal(Number(await page.getAttribute(chart, 'data-total')), 0);
        for (let i = 0; i < 40; i++) await nap.delay(q, 20);
        // Every finished task is counted once, whatever the sampling: wait for all 40 (deadline: generous).
        await waitFor(
          'the chart to count 40 finished tasks',
          async () => Number(await page.getAttribute(chart, 'data-total')) >= 40,
          30_000,
          100,
        );
        assert.equal(Number(await page.getAttribute(chart, 'data-total')), 40);
        assert.ok((await page.locator(`${chart} rect.ok`).count()) >= 1, 'bars are drawn');
        await shot(page, 'chart');
        assert.deepEqual(errors, []);
      } finally {
        await page.context().close();
        await d.close();
        await worker.close();
        await running;
      }
    });
  });

  test('requeue from the page lands in Redis; without the token, or with a wrong one, nothing changes', async () => {
    await withQueue(
      redis,
      async (q) => {
        await makeDeadLetters(q, [{ message: 'first' }, { message: 'second' }]);
        const d = await startDashboard({ queue: q, allowActions: true, token: TOKEN });
        const { page } = await open(`${d.url}#/dead/${q.name}`);
        try {
          const letters = await redis.lrange(q.keys.dead, 0, -1);
          const target = (await queueStatus(q, { deadLimit: 2 })).recentDead[1]!;
          const button = `tr[data-id="${target.id}"] button[data-action=requeue]`;
          await page.waitForSelector(button);
          // No token yet: the page asks for it and sends nothing.
          await page.click(button);
          await page.waitForSelector('#notice:has-text("Enter the dashboard token")');
          // A wrong token: the server answers 401 and the page says so.
          await page.fill('#token', 'wrong-token-wrong-token');
          await page.click('#token-form button[type=submit]');
          await page.click(button);
          await page.waitForSelector('#notice:has-text("The token was refused")');
          assert.deepEqual(await redis.lrange(q.keys.dead, 0, -1), letters, 'the dead letters are untouched');
          assert.equal(await redis.llen(q.keys.waiting), 0, 'nothing was requeued');
          // The right token: the task is back in the queue, its record gone.
          await page.fill('#token', TOKEN);
          await page.click('#token-form button[type=submit]');
          await page.click(button);
          await page.waitForSelector(`#notice:has-text("Requeued explode ${target.id}")`);
          const waiting = await redis.lrange(q.keys.waiting, 0, -1);
          assert.equal(waiting.length, 1);
          assert.ok(waiting[0]!.includes(`|${target.id}|explode|`), 'the requeued entry is that task');
          assert.equal(await redis.llen(q.keys.dead), 1);
          await waitFor('the row to go', async () => (await page.locator('tbody tr').count()) === 1, 15_000, 100);
          assert.equal(await page.evaluate('document.cookie'), '', 'no cookie holds the token');
        } finally {
          await page.context().close();
          await d.close();
        }
      },
      { deadLetters: 100 },
    );
  });

  test('a payload and an error message holding <script> and <img onerror> show as text and never run', async () => {
    await withQueue(
      redis,
      async (q) => {
        await makeDeadLetters(q, [{ message: XSS_MESSAGE, payload: XSS_ARG }]);
        const d = await startDashboard({ queue: q, allowActions: true, token: TOKEN });
        const id = (await queueStatus(q)).recentDead[0]!.id;
        const { page } = await open(`${d.url}#/dead/${q.name}`);
        try {
          await page.waitForSelector('td[data-field=args]');
          assert.ok(
            ((await page.textContent('td[data-field=args]')) ?? '').includes(XSS_ARG.replaceAll('"', '\\"')),
            'the arguments are shown as text',
          );
          assert.ok(((await page.textContent('td[data-field=message]')) ?? '').includes(XSS_MESSAGE), 'the message is shown as text');
          await page.goto(`${d.url}#/task/${q.name}/${encodeURIComponent(id)}`);
          await page.waitForSelector('[data-field=state]');
          assert.ok(((await page.textContent('#content')) ?? '').includes(XSS_MESSAGE));
          // Let any injected handler have its chance (an <img src=x> errors within milliseconds).
          await waitFor('a refresh of the page', async () => /updated/.test((await page.textContent('#live')) ?? ''), 15_000);
          assert.equal(await page.evaluate('window.__pwned'), undefined, 'no injected script ran');
          assert.equal(await page.locator('main img, main script').count(), 0, 'no element was made from the payload');
        } finally {
          await page.context().close();
          await d.close();
        }
      },
      { deadLetters: 100 },
    );
  });

  // Enqueued with delayMs 120 s; the page is read well within 60 s of that (margin: 60 s for a loaded machine).
  const DUE_IN = /\(in (1m[0-5]\ds|2m00s)\)/;
  test('the Queues page counts scheduled tasks and schedules; the Scheduled page shows a task for later and a schedule', async () => {
    await withQueue(redis, async (q) => {
      await q.enqueue('nap', [XSS_ARG], { delayMs: 120_000 });
      await q.schedule('nightly', { cron: '0 3 * * *', tz: 'Europe/Berlin', task: 'nap', args: [1] });
      const d = await startDashboard({ queue: q });
      const { page, errors } = await open(d.url);
      try {
        const s = await queueStatus(q);
        const section = `section[data-queue="${q.name}"]`;
        assert.equal(await field(page, `${section} [data-field=scheduled]`), s.scheduled);
        assert.equal(await field(page, `${section} [data-field=nextDueAt]`), s.nextDueAt);
        assert.equal(await field(page, `${section} [data-field=schedules]`), s.schedules);
        assert.deepEqual([s.scheduled, s.schedules], [1, 1]);
        assert.match((await page.textContent(`${section} [data-field=nextDueAt]`)) ?? '', DUE_IN, 'due in 60-120 s');
        await shot(page, 'queues-scheduled');

        await page.click('nav a[data-page=scheduled]');
        const id = (await q.scheduled())[0]!.id;
        await page.waitForSelector(`tr[data-id="${id}"]`);
        assert.equal(await field(page, '[data-field=scheduledTotal]'), 1);
        assert.equal(await field(page, '[data-field=schedulesTotal]'), 1);
        const row = (await page.textContent(`tr[data-id="${id}"]`)) ?? '';
        assert.match(row, new RegExp(`${DUE_IN.source}nap`), 'due time with "in …", then the task name');
        assert.ok(
          ((await page.textContent(`tr[data-id="${id}"] [data-field=args]`)) ?? '').includes(XSS_ARG.replaceAll('"', '\\"')),
          'the arguments are shown as text',
        );
        const schedule = (await page.textContent('tr[data-schedule=nightly]')) ?? '';
        assert.match(schedule, /nightly0 3 \* \* \*Europe\/Berlinnap/);
        assert.match((await page.textContent('tr[data-schedule=nightly] [data-field=nextDue]')) ?? '', /\(in /);
        await shot(page, 'scheduled');
        await waitFor('a refresh of the page', async () => /updated/.test((await page.textContent('#live')) ?? ''), 15_000);
        assert.equal(await page.evaluate('window.__pwned'), undefined, 'no injected script ran');
        assert.equal(await page.locator('main img, main script').count(), 0, 'no element was made from the payload');
        assert.deepEqual(errors, []);
      } finally {
        await page.context().close();
        await d.close();
      }
    });
  });

  test('"Run now" on the Scheduled page moves that task to the waiting list, with the token only', async () => {
    await withQueue(redis, async (q) => {
      await q.enqueue('nap', ['first'], { delayMs: 600_000 });
      await q.enqueue('nap', ['second'], { delayMs: 900_000 });
      const [first, second] = await q.scheduled();
      const d = await startDashboard({ queue: q, allowActions: true, token: TOKEN });
      const { page, errors } = await open(`${d.url}#/scheduled/${q.name}`);
      try {
        const button = `tr[data-id="${second!.id}"] button[data-action=run-now]`;
        await page.waitForSelector(button);
        await page.click(button);
        await page.waitForSelector('#notice:has-text("Enter the dashboard token")');
        assert.equal(await redis.llen(q.keys.waiting), 0, 'nothing moved without the token');
        await page.fill('#token', TOKEN);
        await page.click('#token-form button[type=submit]');
        await page.click(button);
        await page.waitForSelector(`#notice:has-text("Enqueued nap ${second!.id} to run now")`);
        const waiting = await redis.lrange(q.keys.waiting, 0, -1);
        assert.equal(waiting.length, 1);
        assert.ok(waiting[0]!.includes(`|${second!.id}|nap|`), 'the task clicked, not the other');
        assert.deepEqual(
          (await q.scheduled()).map((t) => t.id),
          [first!.id],
          'the other stays scheduled',
        );
        await waitFor('the row to go', async () => (await page.locator(`tr[data-id="${second!.id}"]`).count()) === 0, 15_000, 100);
        assert.deepEqual(errors, []);
      } finally {
        await page.context().close();
        await d.close();
      }
    });
  });

  test('Pause / Resume on the Queues page and Cancel on a task page act through the library, with the token', async () => {
    await withQueue(redis, async (q) => {
      const id = await q.enqueue('nap', ['waits']);
      const d = await startDashboard({ queue: q, allowActions: true, token: TOKEN });
      const { page, errors } = await open(d.url);
      page.on('dialog', (dialog) => void dialog.accept());
      try {
        await page.fill('#token', TOKEN);
        await page.click('#token-form button[type=submit]');
        await page.click('button[data-action=pause]');
        await page.waitForSelector('#notice:has-text("Paused")');
        assert.equal(await q.isPaused(), true);
        await page.waitForSelector('button[data-action=resume]', { timeout: 15_000 });
        assert.equal(await page.textContent(`section[data-queue="${q.name}"] [data-field=paused]`), 'paused');
        await page.click('button[data-action=resume]');
        await page.waitForSelector('#notice:has-text("Resumed")');
        assert.equal(await q.isPaused(), false);

        await page.goto(`${d.url}#/task/${q.name}/${encodeURIComponent(id)}`);
        await page.waitForSelector('[data-field=state][data-value=waiting]');
        await page.click('button[data-action=cancel]');
        await page.waitForSelector(`#notice:has-text("Cancelled ${id}")`);
        assert.equal(await redis.llen(q.keys.waiting), 0, 'the task is gone');
        await page.waitForSelector('[data-field=state][data-value=unknown]', { timeout: 15_000 });
        assert.deepEqual(errors, []);
      } finally {
        await page.context().close();
        await d.close();
      }
    });
  });

  test('Find a task reads 10,000 waiting entries a request and says so; Search further reads on and finds it', async () => {
    await withQueue(redis, async (q) => {
      // The task taken next (pushed first: the far end from the newest), behind 10,050 newer ones.
      await redis.lpush(q.keys.waiting, '1|0|0||deep.0|nap|60000|3|[0]');
      for (let sent = 1; sent <= 10_050; sent += 1005) {
        const batch: string[] = [];
        for (let i = sent; i < sent + 1005; i++) batch.push(`1|0|0||deep.${i}|nap|60000|3|[${i}]`);
        await redis.lpush(q.keys.waiting, ...batch);
      }
      const d = await startDashboard({ queue: q });
      const { page, errors } = await open(`${d.url}#/task/${q.name}/deep.0`);
      try {
        await page.waitForSelector('[data-field=searched]');
        assert.equal(await field(page, '[data-field=searched]'), 10_000);
        assert.match((await page.textContent('#content')) ?? '', /Not found yet: deep\.0.*not among the first 10,000 waiting/s);
        await page.click('button[data-action=search-further]');
        await page.waitForSelector('[data-field=state][data-value=waiting]');
        assert.match((await page.textContent('#content')) ?? '', /deep\.0 \(nap, attempt 0\): waiting/);
        await shot(page, 'task-search-further');
        assert.deepEqual(errors, []);
      } finally {
        await page.context().close();
        await d.close();
      }
    });
  });

  test('Cancel on the page of a running `while (true) {}` task kills its child: outcome cancelled, the worker works on', async () => {
    // Cancel reaches the worker with its next lease renewal (every leaseMs / 3), which sends SIGTERM to the
    // child's process group and SIGKILL killGraceMs later.
    const leaseMs = 1500;
    const killGraceMs = 300;
    await withQueue(
      redis,
      async (q) => {
        const rec = recorder();
        const failedAt = new Map<string, number>();
        const worker = new PreforkedWorker({
          queue: q,
          tasks: [FIXTURES],
          handleSignals: false,
          leaseMs,
          killGraceMs,
          successHandler: rec.successHandler,
          errorHandler: (task, failure) => {
            failedAt.set(task.id, Date.now());
            rec.errorHandler(task, failure);
          },
        });
        const running = worker.run();
        const d = await startDashboard({ queue: q, allowActions: true, token: TOKEN });
        const ledger = ledgerFile();
        const id = await spin.delay(q, ledger);
        const { page, errors } = await open(`${d.url}#/task/${q.name}/${encodeURIComponent(id)}`);
        page.on('dialog', (dialog) => void dialog.accept());
        try {
          const start = await waitFor('the spin to start in a child', () => readLedger(ledger).find((l) => l.event === 'start'), 30_000);
          assert.notEqual(start.pid, process.pid, 'it runs in a child process');
          // The task page looks up once per Find: find again until it shows the run.
          const state = async () => {
            await page.click('#task-form button');
            await page.waitForSelector('[data-field=state]');
            return page.getAttribute('[data-field=state]', 'data-value');
          };
          await waitFor('the page to show the task running', async () => (await state()) === 'running', 15_000, 200);
          assert.match((await page.textContent('#content')) ?? '', new RegExp(`Running on ${worker.workerId}`));
          await page.fill('#token', TOKEN);
          await page.click('#token-form button[type=submit]');
          const clicked = Date.now();
          await page.click('button[data-action=cancel]');
          await page.waitForSelector(`#notice:has-text("Cancelling ${id}")`);
          const outcome = await waitFor('the cancelled outcome', () => rec.byId(id), 15_000, 5);
          const latency = (failedAt.get(id) as number) - clicked;
          assert.equal(outcome.reason, 'cancelled', JSON.stringify(outcome));
          // Bound: one renewal period + the kill grace + 2 s for the page's request and a loaded 2-core machine.
          const bound = leaseMs / 3 + killGraceMs + 2000;
          console.log(
            `cancel from the page to the outcome (leaseMs ${leaseMs}, killGraceMs ${killGraceMs}): ${latency} ms (bound ${bound})`,
          );
          assert.ok(latency <= bound, `the cancel took ${latency} ms, over ${bound}`);
          await waitFor('the child to be gone', () => !isAlive(start.pid), 5000, 10);
          // The worker works on: a next task succeeds (in a new child).
          const next = await add.delay(q, 2, 3);
          const done = await waitFor('the next task to succeed', () => rec.byId(next), 30_000, 10);
          assert.deepEqual([done.ok, done.result], [true, 5]);
          // The page no longer shows it running: a dead letter with reason cancelled.
          await waitFor('the page to show the task failed', async () => (await state()) === 'failed', 15_000, 200);
          assert.match((await page.textContent('#content')) ?? '', /Failed \(cancelled\)/);
          assert.equal(await page.locator('button[data-action=cancel]').count(), 0, 'no Cancel for a finished task');
          assert.equal(rec.outcomes.filter((o) => o.id === id).length, 1, 'one outcome: never retried');
          assert.deepEqual(errors, []);
        } finally {
          await page.context().close();
          await d.close();
          await worker.close();
          await running;
        }
      },
      { deadLetters: 10 },
    );
  });
});
