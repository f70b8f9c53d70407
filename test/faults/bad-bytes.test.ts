// Scenario 19: bytes and keys that are not what the queue wrote.
// a. (defect 5 of issue 10) An entry that is not valid UTF-8 (a well-formed entry with 0xff 0xfe inside), beside
//    entries of the wrong shape. Contract: the worker never runs it, sends it to the dead-letter list with
//    reason 'bad-payload' (errorHandler called once), the record keeps the raw bytes as base64 (`entryBase64`,
//    instead of `entry`), the in-flight list ends empty, a second worker does not run it again, and the worker
//    keeps running other tasks.
// b. (defect 7, end to end) `waiting` replaced by a hash while tasks run, and a child killed meanwhile: its
//    requeue fails (WRONGTYPE) without destroying the entry; the worker logs, keeps going, and the task runs
//    again once the key is repaired; nothing is lost.
// c. The `workers` sorted set replaced by a string: a worker cannot register, says why, retries, and registers
//    once the key is repaired.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { hasRedisServer } from '../../scripts/redis-server.mjs';
import { report } from './report.ts';
import { inScenario, Scenario } from './scenario.ts';
import { waitFor } from '../helpers.ts';
import { histories, tally } from './ledger.ts';

const skip = hasRedisServer() ? false : 'redis-server is not installed';

function log(s: Scenario, name: string): string {
  try {
    return readFileSync(join(s.dir, `${name}.log`), 'utf8');
  } catch {
    return '';
  }
}

/** Entries held in every in-flight list of the queue. */
async function inFlight(s: Scenario, redis: Redis): Promise<number> {
  const keys = await redis.keys(`${s.key('worker:')}*`);
  let n = 0;
  for (const key of keys) n += await redis.llen(key);
  return n;
}

test('19a. defect 5: an entry that is not valid UTF-8 goes to the dead letters as base64 (bad-payload), once, and is never run', {
  skip,
  timeout: 120_000,
}, async () => {
  await inScenario(Scenario.create('non-utf8 entry'), async (s) => {
    const redis = s.client();
    const queue = s.queue();
    await s.worker({ name: 'first', concurrency: 2, deadLetters: 10 });
    const d = JSON.stringify(s.ledgerDir);
    const raw = Buffer.concat([Buffer.from(`1|0|0||bad.utf8|work|30000|3|[${d},10,"`), Buffer.from([0xff, 0xfe]), Buffer.from('"]')]);
    const shapes = { 'bad.shape': `1|0|0||bad.shape|work|30000|3|{"dir":${d}}`, 'bad.version': `9|0|0||bad.version|work|30000|3|[${d}]` };
    const before = await queue.enqueueMany(Array.from({ length: 3 }, () => ({ name: 'work', args: [s.ledgerDir, 20] })));
    await redis.lpush(s.key('waiting'), raw);
    for (const entry of Object.values(shapes)) await redis.lpush(s.key('waiting'), entry);
    const after = await queue.enqueueMany(Array.from({ length: 3 }, () => ({ name: 'work', args: [s.ledgerDir, 20] })));
    await s.drained([...before, ...after, ...Object.keys(shapes)], 30_000);
    const firstOutcome = await waitFor(
      'bad.utf8 to reach an outcome',
      () => s.ledger().find((e) => e.id === 'bad.utf8' && (e.event === 'ok' || e.event === 'fail')),
      15_000,
    ).catch(() => undefined);
    const heldAfterFirst = await waitFor('the in-flight lists to empty', async () => (await inFlight(s, redis)) === 0, 5000)
      .then(() => 0)
      .catch(() => inFlight(s, redis));
    // A second worker: it must not run the entry again (nor fail it again).
    const first = s.procs.find((p) => p.name === 'first')!;
    first.signal('SIGTERM');
    await first.exited;
    await s.worker({ name: 'second', concurrency: 2, deadLetters: 10 });
    const more = await queue.enqueueMany(Array.from({ length: 3 }, () => ({ name: 'work', args: [s.ledgerDir, 20] })));
    const events = await s.drained(more, 30_000);
    const heldAfterSecond = await inFlight(s, redis);
    const bad = histories(events).get('bad.utf8');
    const dead = (await redis.lrange(s.key('dead'), 0, -1)).map((r) => JSON.parse(r.slice(r.indexOf('|') + 1)) as Record<string, unknown>);
    const record = dead.find((r) => r.id === 'bad.utf8');
    const t = tally([...before, ...after, ...more], events);
    const residue = (await s.stopAllAndCheckResidue()).filter((k) => k !== s.key('dead'));
    report('19a. entry that is not valid UTF-8', {
      'first outcome': firstOutcome ? `${firstOutcome.event} ${firstOutcome.extra}` : 'none within 15 s',
      'runs of it': bad?.starts.length ?? 0,
      'outcomes of it (two workers)': bad?.outcomes.length ?? 0,
      'dead-letter record': record ? Object.keys(record).join(',') : 'none',
      'entries left in flight after the first worker / the second': `${String(heldAfterFirst)} / ${heldAfterSecond}`,
      'good tasks lost': t.lost.length,
      residue: residue.join(' ') || 'none',
    });
    assert.ok(firstOutcome, 'the entry reached an outcome');
    assert.equal(`${firstOutcome.event} ${firstOutcome.extra}`, 'fail bad-payload', 'it fails as bad-payload');
    assert.equal(bad?.starts.length ?? 0, 0, 'it never ran');
    assert.equal(bad?.outcomes.length, 1, 'the errorHandler was called once, over two worker starts');
    assert.ok(record, 'a dead-letter record for it');
    assert.equal(record.reason, 'bad-payload');
    assert.equal(record.entryBase64, raw.toString('base64'), 'the record keeps the raw bytes as base64');
    assert.ok(!('entry' in record), 'no (mangled) text copy of the entry');
    for (const id of Object.keys(shapes)) assert.equal(dead.find((r) => r.id === id)?.reason, 'bad-payload', `${id} is a dead letter too`);
    assert.equal(heldAfterFirst, 0, 'nothing left in flight after the first worker');
    assert.equal(heldAfterSecond, 0, 'nothing left in flight after the second');
    assert.deepEqual(t.lost, [], 'the workers kept running the other tasks');
    assert.deepEqual(residue, []);
  });
});

test('19b. defect 7: waiting replaced by a hash while tasks run, a child killed meanwhile: its task is not destroyed and runs once waiting is repaired', {
  skip,
  timeout: 120_000,
}, async () => {
  await inScenario(Scenario.create('wrong-type waiting while running'), async (s) => {
    const redis = s.client();
    const queue = s.queue();
    const worker = await s.worker({ name: 'worker', concurrency: 2 });
    const [victim, other] = (await queue.enqueueMany([
      { name: 'work', args: [s.ledgerDir, 8000] },
      { name: 'work', args: [s.ledgerDir, 1500] },
    ])) as [string, string];
    const started = await waitFor(
      'both to start',
      () => {
        const starts = s.ledger().filter((e) => e.event === 'start');
        const v = starts.find((e) => e.id === victim);
        return v && starts.some((e) => e.id === other) ? v : undefined;
      },
      20_000,
    );
    await redis.hset(s.key('waiting'), 'not', 'a list');
    const wrongAt = Date.now();
    const producerError = await queue.enqueue('work', [s.ledgerDir, 10]).then(
      () => 'none',
      (err: Error) => err.message,
    );
    process.kill(started.pid, 'SIGKILL');
    await waitFor(
      'the worker to say it cannot put the task back',
      () => log(s, 'worker').includes('cannot finish a task in Redis'),
      10_000,
    );
    // Its retries go on while the key is wrong: the entry must still be in the worker's list.
    const heldWhileWrong = (await s.entries(redis, (k) => k.worker(worker.workerIds[0]!))).filter((e) => e.includes(`|${victim}|`)).length;
    const otherDone = await waitFor(
      'the other task to finish meanwhile',
      () => s.ledger().find((e) => e.event === 'ok' && e.id === other),
      10_000,
    ).catch(() => undefined);
    await redis.del(s.key('waiting'));
    const repairedAt = Date.now();
    const events = await s.drained([victim, other], 30_000).catch(() => s.ledger());
    const rerun = histories(events)
      .get(victim)
      ?.starts.find((e) => e.t > repairedAt);
    const t = tally([victim, other], events);
    const alive = worker.alive;
    const residue = await s.stopAllAndCheckResidue();
    report('19b. waiting of the wrong type while tasks run', {
      'producer error while wrong': producerError,
      'crashed task still in flight while wrong': heldWhileWrong,
      'other task finished while wrong': Boolean(otherDone && otherDone.t > wrongAt),
      'crashed task rerun ms after the repair': rerun ? rerun.t - repairedAt : 'never',
      lost: t.lost.length,
      'tasks with >1 outcome': t.duplicateOutcomes.length,
      residue: residue.join(' ') || 'none',
    });
    assert.match(producerError, /WRONGTYPE/);
    assert.equal(heldWhileWrong, 1, "the failed requeue left the entry in the worker's list");
    assert.ok(otherDone, 'the worker kept going');
    assert.ok(rerun, 'the crashed task ran again once waiting was repaired');
    assert.deepEqual(t.lost, []);
    assert.deepEqual(t.duplicateOutcomes, []);
    assert.ok(alive);
    assert.deepEqual(residue, []);
  });
});

test('19c. the workers sorted set replaced by a string: a worker cannot register, says why, retries, and registers once it is repaired', {
  skip,
  timeout: 60_000,
}, async () => {
  await inScenario(Scenario.create('wrong-type workers'), async (s) => {
    const redis = s.client();
    await redis.set(s.key('workers'), 'not a sorted set');
    const worker = s.start({ name: 'worker', concurrency: 1 });
    await waitFor('the worker to say why it cannot register', () => /cannot register[^\n]*WRONGTYPE/.test(log(s, 'worker')), 20_000);
    const registeredWhileWrong = worker.workerIds.length;
    await redis.del(s.key('workers'));
    const repairedAt = Date.now();
    const registered = await worker.waitFor('registered', 15_000);
    const id = await s.queue().enqueue('work', [s.ledgerDir, 10]);
    const events = await s.drained([id], 20_000);
    const alive = worker.alive;
    const residue = await s.stopAllAndCheckResidue();
    report('19c. workers key of the wrong type', {
      'registered while wrong': registeredWhileWrong,
      'registered ms after the repair': Number(registered.t) - repairedAt,
      lost: tally([id], events).lost.length,
      residue: residue.join(' ') || 'none',
    });
    assert.equal(registeredWhileWrong, 0);
    // The retry backoff is capped at 5 s: registered within that after the repair, plus a margin of 3 s.
    assert.ok(Number(registered.t) - repairedAt <= 8000, `registered ${Number(registered.t) - repairedAt} ms after the repair`);
    assert.ok(alive);
    assert.deepEqual(residue, []);
  });
});
