// decide() and decideBeforeRun(): the one place where an outcome becomes what happens to the task. Pure
// functions, so every outcome is checked here without a worker; the worker tests show the writes they lead to.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TaskEntry } from '../src/payload.ts';
import { decide, decideBeforeRun } from '../src/processor.ts';

const task = (over: Partial<TaskEntry> = {}): TaskEntry => ({
  id: 't1',
  name: 'add',
  args: [1, 2],
  argsJson: '[1,2]',
  timeoutMs: 500,
  maxAttempts: 3,
  attempt: 0,
  cutoffs: 0,
  reason: '',
  failures: 0,
  ...over,
});

test('success releases with the value; a thrown error fails once with reason thrown (no retry today)', () => {
  assert.deepEqual(decide(task(), { kind: 'success', value: 3 }), { kind: 'release', value: 3 });
  const error = new Error('boom');
  assert.deepEqual(decide(task(), { kind: 'thrown', error }), { kind: 'fail', failure: { reason: 'thrown', message: 'boom', error } });
});

test('a timeout fails, naming the limit and the signal that stopped it', () => {
  const d = decide(task(), { kind: 'timeout', signal: 'SIGKILL' });
  assert.equal(d.kind, 'fail');
  assert.ok(d.kind === 'fail' && d.failure.reason === 'timeout' && d.failure.signal === 'SIGKILL');
  assert.match(d.kind === 'fail' ? d.failure.message : '', /timeout of 500 ms and was stopped with SIGKILL/);
  const inline = decide(task(), { kind: 'timeout' });
  assert.ok(inline.kind === 'fail' && inline.failure.signal === undefined);
});

test('an unknown task fails with reason unknown-task', () => {
  const d = decide(task({ name: 'nope' }), { kind: 'unknown-task' });
  assert.ok(d.kind === 'fail' && d.failure.reason === 'unknown-task' && d.failure.message.includes('"nope"'));
});

test('a crash is put back counted as a cut-off until the last allowed run, which fails with the exit details', () => {
  assert.deepEqual(decide(task({ cutoffs: 1 }), { kind: 'crashed', exitCode: 3, signal: null }), {
    kind: 'requeue',
    why: 'crashed',
    cutoff: 'crashed',
    note: "the task's process exited with code 3; putting the task back",
  });
  const last = decide(task({ cutoffs: 2 }), { kind: 'crashed', exitCode: null, signal: 'SIGSEGV' });
  assert.ok(last.kind === 'fail' && last.failure.reason === 'crashed' && last.failure.signal === 'SIGSEGV');
  assert.equal(last.kind === 'fail' ? last.failure.exitCode : 'x', undefined);
});

test('a stop puts the task back: counted when its run had started, uncounted when it had not', () => {
  assert.deepEqual(decide(task(), { kind: 'killed', started: true }), { kind: 'requeue', why: 'stopped', cutoff: 'stopped' });
  assert.deepEqual(decide(task(), { kind: 'killed', started: false }), { kind: 'requeue', why: 'stopped', cutoff: null });
});

test('before a run: a task cut off maxAttempts times fails without running, naming the last cause', () => {
  assert.equal(decideBeforeRun(task({ cutoffs: 2 })), null);
  const lost = decideBeforeRun(task({ cutoffs: 3, reason: 'lost' }));
  assert.ok(lost?.kind === 'fail' && lost.failure.reason === 'lost' && /its worker was lost/.test(lost.failure.message));
  const crashed = decideBeforeRun(task({ cutoffs: 3, reason: 'crashed' }));
  assert.ok(crashed?.kind === 'fail' && crashed.failure.reason === 'crashed');
  const stopped = decideBeforeRun(task({ cutoffs: 3, reason: 'stopped' }));
  assert.ok(stopped?.kind === 'fail' && stopped.failure.reason === 'lost' && /stopping worker/.test(stopped.failure.message));
});

test('a thrown error with retry advice becomes a retry with its delay (clamped to 0..30 days); without, a failure', () => {
  const error = new Error('boom');
  assert.deepEqual(decide(task(), { kind: 'thrown', error, retry: { retry: true, delayMs: 1500.4 } }), {
    kind: 'retry',
    failure: { reason: 'thrown', message: 'boom', error },
    delayMs: 1500,
  });
  const clamped = decide(task(), { kind: 'thrown', error, retry: { retry: true, delayMs: -5 } });
  assert.ok(clamped.kind === 'retry' && clamped.delayMs === 0);
  assert.deepEqual(decide(task(), { kind: 'thrown', error, retry: { retry: false, why: 'retries exhausted (2 of 2)' } }), {
    kind: 'fail',
    failure: { reason: 'thrown', message: 'boom', error },
  });
});
