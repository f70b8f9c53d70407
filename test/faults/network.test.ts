// Scenarios 9 and 10: the network between one worker (or producer) and Redis fails, through a TCP proxy on
// loopback (test/faults/proxy.ts). A partition (blackhole, then reset): the cut-off worker stops its children
// once its lease is surely gone and writes nothing for those runs; the tasks run elsewhere, never two at once.
// A reply dropped after Redis ran the command, for enqueue, dequeue (script and BLMOVE), renew and release:
// no duplicate enqueue (the producer gets an error), no lost or doubly leased task.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from '../../src/index.ts';
import { scriptSource } from '../../src/scripts.ts';
import { hasRedisServer } from '../../scripts/redis-server.mjs';
import { report } from './report.ts';
import { inScenario, Scenario } from './scenario.ts';
import { waitFor } from '../helpers.ts';
import { histories, tally } from './ledger.ts';
import { type DropRule, TcpProxy } from './proxy.ts';
import { probeReconnect } from './probes.ts';

const LEASE = 1500;
const skip = hasRedisServer() ? false : 'redis-server is not installed';
const workerProbe = await probeReconnect('worker');
const producerProbe = await probeReconnect('producer');
/** The core bug these scenarios run into while it is there (see probes.ts and the last test of this file). */
const hangBug: string | false =
  workerProbe.recovered && producerProbe.recovered
    ? false
    : `core bug: after a connection drops with a command in flight, later commands on it never settle (ioredis auto-pipelining with autoResendUnfulfilledCommands false); worker: ${workerProbe.detail}; producer: ${producerProbe.detail}`;

test('9. network cut between one worker and Redis (blackhole, then reset)', { skip, todo: hangBug, timeout: 120_000 }, async () => {
  await inScenario(Scenario.create('network partition'), async (s) => {
    const proxy = await TcpProxy.start(s.redis.port);
    try {
      const victim = await s.worker({ name: 'victim', concurrency: 2, leaseMs: LEASE, redisUrl: proxy.url });
      const queue = s.queue();
      // 12 s tasks: the healthy worker below must be ready before they end on the victim (seconds at load 20).
      const ids = await queue.enqueueMany(Array.from({ length: 2 }, () => ({ name: 'work', args: [s.ledgerDir, 12_000, 50] })));
      await waitFor(
        'the victim to start both',
        () =>
          new Set(
            s
              .ledger()
              .filter((e) => e.event === 'start' && e.ppid === victim.pid)
              .map((e) => e.id),
          ).size === 2,
        15_000,
      );
      const healthy = await s.worker({ name: 'healthy', concurrency: 2, leaseMs: LEASE });
      proxy.blackhole();
      const cutAt = Date.now();
      // What the cut interrupts: the victim's runs that had not ended by then (on a loaded machine one may have).
      const ended = new Set(
        s
          .ledger()
          .filter((e) => e.event === 'end' && e.ppid === victim.pid)
          .map((e) => e.id),
      );
      const interrupted = ids.filter((id) => !ended.has(id));
      assert.ok(interrupted.length > 0, 'the cut came while the victim ran a task');
      const lost = await victim.waitFor('leaseLost', 10_000);
      await waitFor(
        'the interrupted tasks to run elsewhere',
        () => {
          const started = new Set(
            s
              .ledger()
              .filter((e) => e.event === 'start' && e.ppid === healthy.pid)
              .map((e) => e.id),
          );
          return interrupted.every((id) => started.has(id));
        },
        30_000,
      );
      await sleep(cutAt + 2 * LEASE - Date.now());
      proxy.reset();
      const resetAt = Date.now();
      await waitFor('the victim to register anew', () => victim.workerIds.length >= 2, hangBug ? 8000 : 15_000);
      const events = await s.drained(ids, 30_000);
      const t = tally(ids, events);
      const byId = histories(events);
      // The victim's runs still going when it gave up its lease: those it must stop and write nothing for. A run
      // that ended before that (under load, even after the cut) finished: its handler ran, its release was cut off
      // (at least once), and it is not one of them.
      const key = (e: { id: string; attempt: number }) => `${e.id}#${e.attempt}`;
      const endedBeforeCut = new Set(events.filter((e) => e.event === 'end' && e.ppid === victim.pid && e.t < Number(lost.t)).map(key));
      const cutRuns = new Set(
        events.filter((e) => e.event === 'start' && e.ppid === victim.pid && e.t < cutAt && !endedBeforeCut.has(key(e))).map(key),
      );
      const cutIds = ids.filter((id) => [...cutRuns].some((k) => k.startsWith(`${id}#`)));
      const oldLast = Math.max(
        ...events.filter((e) => e.ppid === victim.pid && cutRuns.has(key(e)) && (e.event === 'tick' || e.event === 'end')).map((e) => e.t),
      );
      const newFirst = Math.min(...cutIds.map((id) => byId.get(id)!.starts.find((e) => e.ppid === healthy.pid && e.t > cutAt)!.t));
      const victimOutcomes = events.filter((e) => e.pid === victim.pid && (e.event === 'ok' || e.event === 'fail') && cutRuns.has(key(e)));
      // The victim works again after the network came back.
      const more = await queue.enqueueMany(Array.from({ length: 6 }, () => ({ name: 'work', args: [s.ledgerDir, 300] })));
      const after = await s.drained(more, 30_000);
      const victimAfter = after.filter((e) => e.event === 'ok' && e.pid === victim.pid && more.includes(e.id)).length;
      const alive = victim.alive && healthy.alive;
      const residue = await s.stopAllAndCheckResidue();
      report('9. network partition of one worker', {
        tasks: ids.length,
        'runs in progress at the cut': cutRuns.size,
        'lease lost ms after the cut': Number(lost.t) - cutAt,
        'old runs last alive ms after the cut': oldLast - cutAt,
        'rerun started ms after the cut': newFirst - cutAt,
        'overlap of old and new runs ms': Math.max(0, oldLast - newFirst),
        'outcomes written by the cut-off worker for its old runs': victimOutcomes.length,
        'victim registered anew ms after reset': Number(victim.messages.filter((m) => m.ev === 'registered')[1]!.t) - resetAt,
        'tasks done by the victim after the reset': `${victimAfter}/${more.length}`,
        lost: t.lost.length + tally(more, after).lost.length,
        'tasks with >1 outcome': t.duplicateOutcomes.length,
        residue: residue.join(' ') || 'none',
      });
      assert.equal(lost.why, 'expired');
      assert.ok(Number(lost.t) - cutAt <= LEASE, 'the victim gives up its lease no later than a lease after the cut');
      assert.ok(oldLast < newFirst, 'the cut-off worker stopped its runs before they started elsewhere');
      assert.deepEqual(victimOutcomes, [], 'the cut-off worker writes nothing for those runs');
      assert.ok(cutRuns.size >= 1, 'the cut caught runs in progress');
      assert.deepEqual(t.lost, []);
      // A second outcome only for a run that had ended before the cut (its release cut off: at-least-once).
      for (const id of t.duplicateOutcomes) assert.ok(!cutIds.includes(id), `${id}: a run cut off by the partition was reported`);
      assert.deepEqual(t.byOutcome, { success: 2 });
      assert.ok(alive);
      assert.deepEqual(residue, []);
    } finally {
      await proxy.close();
    }
  });
});

const sha = (name: 'dequeue' | 'renew') => createHash('sha1').update(scriptSource(name)).digest('hex');

type Dropped = 'enqueue' | 'dequeue (script)' | 'dequeue (BLMOVE)' | 'renew' | 'release';

async function droppedReply(what: Dropped): Promise<Record<string, string | number>> {
  return await inScenario(Scenario.create(`dropped reply ${what}`), async (s) => {
    const proxy = await TcpProxy.start(s.redis.port);
    try {
      const redis = s.client();
      // Scripts known to the server, so the armed EVALSHA runs (no NOSCRIPT round).
      for (const name of ['register', 'renew', 'dequeue', 'requeue', 'fail', 'sweep', 'recover'] as const)
        await redis.script('LOAD', scriptSource(name));
      const direct = s.queue();
      let ids: string[] = [];
      let producerError = '';
      let drop: Promise<DropRule> | undefined;
      if (what === 'enqueue') {
        const viaProxy = new Queue({ name: s.queueName, redis: proxy.url });
        drop = proxy.dropReplyAfter('\r\nlpush\r\n');
        producerError = await Promise.race([
          viaProxy.enqueue('work', [s.ledgerDir, 50]).then(
            () => 'none',
            (err: Error) => err.message,
          ),
          sleep(10_000).then(() => 'HUNG: no reply and no error after 10 s'),
        ]);
        // The same producer enqueues again: it must work (or fail), not hang.
        const again = await Promise.race([
          viaProxy.enqueue('work', [s.ledgerDir, 50]).then(
            () => 'ok',
            (err: Error) => err.message,
          ),
          sleep(5000).then(() => 'HUNG'),
        ]);
        void viaProxy.close();
        assert.equal(again, 'ok', 'the producer enqueues again after the dropped reply');
        await redis.lpop(s.key('waiting'));
        const waiting = await redis.lrange(s.key('waiting'), 0, -1);
        ids = waiting.map((e) => e.split('|')[4]!);
        assert.equal(ids.length, 1, 'the enqueue ran once in Redis');
        await s.worker({ concurrency: 2 });
      } else if (what === 'dequeue (script)') {
        ids = await direct.enqueueMany(Array.from({ length: 4 }, () => ({ name: 'work', args: [s.ledgerDir, 100] })));
        drop = proxy.dropReplyAfter(sha('dequeue'));
        await s.worker({ concurrency: 2, redisUrl: proxy.url });
      } else if (what === 'dequeue (BLMOVE)') {
        drop = proxy.dropReplyAfter('\r\nblmove\r\n', (reply) => reply.startsWith('*-1') || reply.startsWith('_'));
        await s.worker({ concurrency: 1, redisUrl: proxy.url });
        // Registered is not yet fetching (the worker takes tasks once a child is ready): wait until it blocks.
        await waitFor('the worker to block on BLMOVE', async () => /blocked_clients:[1-9]/.test(await redis.info('clients')), 30_000);
        ids = [await direct.enqueue('work', [s.ledgerDir, 100])];
      } else if (what === 'renew') {
        const worker = await s.worker({ concurrency: 2, redisUrl: proxy.url });
        ids = await direct.enqueueMany(Array.from({ length: 2 }, () => ({ name: 'work', args: [s.ledgerDir, 2500] })));
        await waitFor('both to start', () => s.ledger().filter((e) => e.event === 'start' && e.ppid === worker.pid).length === 2, 15_000);
        drop = proxy.dropReplyAfter(sha('renew'));
      } else {
        drop = proxy.dropReplyAfter('\r\nlrem\r\n');
        await s.worker({ concurrency: 2, redisUrl: proxy.url });
        ids = [await direct.enqueue('work', [s.ledgerDir, 100])];
      }
      const rule = await Promise.race([drop, sleep(20_000).then(() => undefined)]);
      assert.ok(rule, `the ${what} reply was dropped`);
      // While the known hang is there, wait less for what will not come (keeps CI short).
      const events = await s.drained(ids, hangBug ? 12_000 : 30_000);
      await sleep(LEASE); // anything late (a stale write, a second lease) would show now
      const t = tally(ids, s.ledger());
      const leaseLosses = s.procs.flatMap((p) => p.messages.filter((m) => m.ev === 'leaseLost')).length;
      const residue = await s.stopAllAndCheckResidue();
      const figures = {
        tasks: ids.length,
        'producer error': producerError || 'n/a',
        'runs started': events.filter((e) => e.event === 'start').length,
        lost: t.lost.length,
        'duplicate starts': t.duplicateStarts,
        'same attempt started twice': t.sameAttemptTwice.length,
        'tasks with >1 outcome': t.duplicateOutcomes.length,
        'lease losses': leaseLosses,
        residue: residue.join(' ') || 'none',
      };
      assert.deepEqual(t.lost, []);
      assert.equal(t.duplicateStarts, 0, 'no task ran twice');
      assert.deepEqual(t.duplicateOutcomes, []);
      assert.deepEqual(t.byOutcome, { success: ids.length });
      if (what === 'enqueue') assert.notEqual(producerError, 'none', 'the producer gets an error, not a silent success or a resend');
      assert.deepEqual(residue, []);
      return figures;
    } finally {
      await proxy.close();
    }
  });
}

for (const what of ['enqueue', 'dequeue (script)', 'dequeue (BLMOVE)', 'renew', 'release'] as const) {
  test(`10. a reply dropped after Redis ran the command: ${what}`, { skip, todo: hangBug, timeout: 90_000 }, async () => {
    const f = await droppedReply(what);
    report(`10. reply dropped after the command ran: ${what}`, f);
  });
}

test('10z. a connection whose unanswered command was dropped carries later commands (worker and producer)', {
  skip,
  todo: hangBug,
  timeout: 30_000,
}, () => {
  assert.ok(workerProbe.recovered, `worker connection: ${workerProbe.detail}`);
  assert.ok(producerProbe.recovered, `producer connection: ${producerProbe.detail}`);
});
