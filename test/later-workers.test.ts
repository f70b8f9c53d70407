// Running later and schedules with real workers: due tasks start on time with nothing but workers running,
// producer and worker clocks skewed ±30 s (faketime) change nothing, schedule occurrences run once each with
// two workers firing, and overlap 'skip' keeps occurrences from overlapping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { InlineWorker, type Queue } from '../src/index.ts';
import { slow, stamp } from './fixtures/time-tasks.ts';
import { useInspector, ledgerFile, REDIS_URL, waitFor, withQueue } from './helpers.ts';

const TIME_TASKS = new URL('./fixtures/time-tasks.ts', import.meta.url).href;

const redis = useInspector();

function ledgerLines(ledger: string): { id: string; event: string; ms: number }[] {
  let text = '';
  try {
    text = readFileSync(ledger, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', event = '', , ms = '0'] = line.split(' ');
      return { id, event, ms: Number(ms) };
    });
}

function inline(q: Queue) {
  return new InlineWorker({ queue: q, tasks: [TIME_TASKS], handleSignals: false, concurrency: 4 });
}

test('a task enqueued with delayMs starts delayMs after the enqueue resolved, with only a worker running', () =>
  withQueue(redis, async (q) => {
    const worker = inline(q);
    const started = new Map<string, number>();
    worker.on('start', (task) => started.set(task.id, performance.now()));
    const running = worker.run();
    try {
      await new Promise<void>((resolve) => worker.once('ready', () => resolve()));
      const lateness: number[] = [];
      const roundTrips: number[] = [];
      for (let i = 0; i < 4; i++) {
        const sent = performance.now();
        const id = await stamp.with({ delayMs: 1500 }).delay(q, '/dev/null');
        const resolved = performance.now();
        await waitFor('the start', () => started.has(id), 10_000, 2);
        // The due time is fixed inside Redis, before the reply travels back: a start up to the enqueue's round
        // trip before "resolved + 1500" is on time.
        roundTrips.push(resolved - sent);
        lateness.push(Math.round((started.get(id) as number) - resolved - 1500));
      }
      console.log(`start − (enqueue resolved + 1500 ms), ms: ${lateness.join(', ')}`);
      // Never early (the due time is taken inside Redis, before the enqueue resolves; 2 ms for rounding to the
      // ms on both sides); the promise is ~20 ms, with a margin of 300 ms for this loaded machine.
      for (const [i, late] of lateness.entries()) {
        assert.ok(late >= -Math.ceil(roundTrips[i] ?? 0) - 2 && late <= 320, `lateness ${late} ms`);
      }
    } finally {
      await worker.close();
      await running;
    }
  }));

function faketimeWorks(): boolean {
  const probe = spawnSync('faketime', ['-f', '+30s', process.execPath, '-e', 'process.stdout.write(String(Date.now()))'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return probe.status === 0 && Math.abs(Number(probe.stdout) - Date.now() - 30_000) < 5000;
}

/** A fixture in its own process under faketime; its JSON lines, each stamped with this process' clock on arrival. */
function skewed(offset: string, fixture: string, env: Record<string, string>) {
  const proc = spawn(
    'faketime',
    ['-f', offset, process.execPath, '--import', 'tsx', new URL(`./fixtures/${fixture}`, import.meta.url).pathname],
    {
      env: { ...process.env, REDIS_URL, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines: { event: string; id?: string; now: number; pid?: number; at: number }[] = [];
  createInterface({ input: proc.stdout }).on('line', (line) => {
    try {
      lines.push({ ...(JSON.parse(line) as { event: string; now: number }), at: Date.now() });
    } catch {
      // not ours
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, lines, exited };
}

test(
  'producer at +30 s, worker at -30 s (faketime): a delayMs 2000 task still starts 2.0 s after the enqueue resolved',
  {
    skip: faketimeWorks() ? false : 'faketime does not work here (apt-get install faketime)',
  },
  () =>
    withQueue(redis, async (q) => {
      const worker = skewed('-30s', 'time-worker.ts', { QUEUE: q.name });
      try {
        await waitFor('the skewed worker', () => worker.lines.some((l) => l.event === 'ready'), 30_000);
        const producer = skewed('+30s', 'time-producer.ts', { QUEUE: q.name, COUNT: '3', DELAY_MS: '2000' });
        assert.equal(await producer.exited, 0);
        const enqueued = producer.lines.filter((l) => l.event === 'enqueued');
        assert.equal(enqueued.length, 3);
        const skew = (enqueued[0]?.now ?? 0) - (enqueued[0]?.at ?? 0);
        assert.ok(Math.abs(skew - 30_000) < 2000, `the producer's clock runs ${skew} ms ahead`);
        await waitFor('three starts', () => worker.lines.filter((l) => l.event === 'start').length >= 3, 20_000);
        const lateness = enqueued.map((e) => {
          const start = worker.lines.find((l) => l.event === 'start' && l.id === e.id);
          return (start?.at ?? Number.NaN) - e.at - 2000;
        });
        console.log(`skewed ±30 s: start − (enqueue resolved + 2000 ms), ms: ${lateness.join(', ')}`);
        // Both times are stamped here on arrival of a line from each process: a few ms each way on a quiet machine,
        // tens of ms on a loaded one (−21 ms seen at load average 22, the producer's line arriving late). Margin
        // 300 ms late; 250 ms early, which still catches what an early start would be here: the delay ignored
        // (−2 s) or a skewed clock used (±30 s).
        for (const late of lateness) assert.ok(late >= -250 && late <= 320, `lateness ${late} ms`);
      } finally {
        // faketime forks: the signal goes to the node process it started, which said its pid.
        const pid = worker.lines.find((l) => l.pid !== undefined)?.pid;
        if (pid !== undefined) process.kill(pid, 'SIGTERM');
        else worker.proc.kill('SIGKILL');
        await worker.exited;
      }
    }),
);

test('two workers fire a 400 ms schedule: each occurrence runs once, on its tick', () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const workers = [inline(q), inline(q)];
    const runs = workers.map((w) => w.run());
    try {
      await Promise.all(workers.map((w) => new Promise<void>((resolve) => w.once('ready', () => resolve()))));
      await q.schedule('beat', { everyMs: 400, task: stamp, args: [ledger] });
      await waitFor('8 occurrences', () => ledgerLines(ledger).length >= 8, 20_000);
      await q.unschedule('beat');
      const lines = ledgerLines(ledger);
      const ids = lines.map((l) => l.id);
      assert.equal(new Set(ids).size, ids.length, 'each occurrence once');
      const ticks = ids.map((id) => Number(id.split(':')[2]));
      assert.deepEqual(
        ticks.slice(1).map((t, i) => t - (ticks[i] as number)),
        ticks.slice(1).map(() => 400),
        'consecutive ticks',
      );
      const late = lines.map((l, i) => l.ms - (ticks[i] as number));
      console.log(`schedule occurrences, start − tick, ms: ${late.join(', ')}`);
      // The first tick came with less notice than one sweep interval (1 s): the floor bounds it. The others were
      // armed a whole period ahead: ~20 ms; margin 300 ms for this loaded machine.
      assert.ok((late[0] as number) >= 0 && (late[0] as number) <= 1300, `the first occurrence started ${late[0]} ms after its tick`);
      for (const ms of late.slice(1)) assert.ok(ms >= 0 && ms <= 320, `an occurrence started ${ms} ms after its tick`);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(runs);
    }
  }));

test("overlap 'skip': no occurrence starts while the previous one runs", () =>
  withQueue(redis, async (q) => {
    const ledger = ledgerFile();
    const worker = inline(q);
    const running = worker.run();
    try {
      await new Promise<void>((resolve) => worker.once('ready', () => resolve()));
      await q.schedule('long', { everyMs: 200, task: slow, args: [ledger, 700], overlap: 'skip' });
      await waitFor('3 runs ended', () => ledgerLines(ledger).filter((l) => l.event === 'end').length >= 3, 20_000);
      await q.unschedule('long');
      const lines = ledgerLines(ledger);
      let open = 0;
      for (const l of lines) {
        open += l.event === 'run' ? 1 : -1;
        assert.ok(open <= 1, 'two occurrences ran at once');
      }
    } finally {
      await worker.close();
      await running;
    }
  }));
