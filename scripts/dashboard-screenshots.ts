// Screenshots of the dashboard for docs/: a private redis-server, a 3-partition queue with two real
// InlineWorkers doing a steady stream of tasks (some fail into the dead letters), the dashboard on a free
// port, and headless Debian Chromium taking a PNG of each page. Run it under the shared lock:
//   flock /tmp/delayed-heavy.lock npx tsx scripts/dashboard-screenshots.ts [OUT_DIR=docs] [SECONDS=45]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startRedis } from './redis-server.mjs';
import { defineTask, InlineWorker, Queue } from '../src/index.ts';
import { serveDashboard } from '../src/dashboard/index.ts';

const out = process.argv[2] ?? 'docs';
const seconds = Number(process.argv[3] ?? 45);
mkdirSync(out, { recursive: true });

const sendEmail = defineTask('sendEmail', async (to: string, _subject: string) => {
  await new Promise((r) => setTimeout(r, 40 + Math.random() * 400));
  if (to.endsWith('.invalid')) throw new Error(`550 5.1.1 <${to}>: recipient address rejected`);
  return 'sent';
});
const resize = defineTask('resize', async (_file: string, width: number) => {
  await new Promise((r) => setTimeout(r, 200 + Math.random() * 2000));
  if (width > 8000) throw new Error(`Expected a width up to 8000, got ${width}`);
  return width;
});

const redis = await startRedis();
const queue = new Queue({ name: 'emails', redis: redis.url, partitions: 3, deadLetters: 1000 });
const workers = [1, 2].map(() => new InlineWorker({ queue, tasks: [sendEmail, resize], concurrency: 6, handleSignals: false }));
const runs = workers.map((w) => w.run());
const dashboard = await serveDashboard({ queue, port: 0, allowActions: true, token: 'screenshot-token-0123456789' });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
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
const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
await page.goto(dashboard.url);

// A stream that speeds up and slows down, so the chart has a shape.
const until = Date.now() + seconds * 1000;
let n = 0;
while (Date.now() < until) {
  const phase = Math.sin(((until - Date.now()) / 1000 / seconds) * Math.PI * 3);
  const burst = Math.round(12 + 10 * phase);
  for (let i = 0; i < burst; i++, n++) {
    if (n % 9 === 0) await resize.delay(queue, `photos/${n}.jpg`, n % 45 === 0 ? 12000 : 640);
    else await sendEmail.delay(queue, n % 17 === 0 ? `user${n}@example.invalid` : `user${n}@example.com`, 'Your receipt');
  }
  await new Promise((r) => setTimeout(r, 1000));
}
// Tasks for later, a retry-like spread of due times, and two repeating schedules for the Scheduled page.
for (let i = 0; i < 12; i++) await sendEmail.with({ delayMs: 90_000 + i * 37_000 }).delay(queue, `later${i}@example.com`, 'Reminder');
await queue.schedule('nightly-digest', { cron: '0 3 * * *', tz: 'Europe/Berlin', task: 'sendEmail', args: ['ops@example.com', 'Digest'] });
await queue.schedule('heartbeat', { everyMs: 3_600_000, task: 'sendEmail', args: ['ops@example.com', 'Still here'] });
// Leave a backlog and work in flight for the pictures.
for (let i = 0; i < 300; i++) await sendEmail.delay(queue, `late${i}@example.com`, 'Digest');
await new Promise((r) => setTimeout(r, 1500));

const shoot = async (hash: string, name: string) => {
  await page.goto(`${dashboard.url}${hash}`);
  await page.waitForSelector('#content > *');
  await new Promise((r) => setTimeout(r, 1200));
  await page.screenshot({ path: join(out, `dashboard-${name}.png`) });
};
await shoot('#/queues', 'queues');
await shoot('#/workers/emails', 'workers');
await page.fill('#token', 'screenshot-token-0123456789');
await page.click('#token-form button[type=submit]');
await shoot('#/dead/emails', 'dead-letters');
await shoot('#/scheduled/emails', 'scheduled');
const id = await page.textContent('tbody tr td:nth-child(3)');
await shoot(`#/task/emails/${encodeURIComponent(id ?? '')}`, 'task');
console.log(`${n + 300} tasks enqueued; screenshots in ${out}/`);

await browser.close();
await dashboard.close();
await Promise.all(workers.map((w) => w.close()));
await Promise.all(runs);
await queue.close();
await redis.stop();
