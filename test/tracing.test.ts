// OpenTelemetry tracing (src/tracing.ts) on the memory store: off, an entry is byte for byte the untraced one
// (also with `tracing: true` while no tracer is registered); on, a producer span per enqueue whose context rides
// in the entry, and a consumer span per run, its child, ended with the run's outcome; a child process runs the
// task inside the run span's context. A minimal recording tracer stands in for an SDK (none is a dependency).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type Attributes, context, type Span, type SpanContext, SpanKind, type SpanStatus, trace, type Tracer } from '@opentelemetry/api';
import { ForkedWorker, InlineWorker, Queue } from '../src/index.ts';
import { memoryStore, recordOutcomes } from '../src/testing.ts';
import { add } from './fixtures/tasks.ts';
import { failTraced, flakyTraced, whereAmI } from './fixtures/traced-tasks.ts';
import { waitFor } from './helpers.ts';

const TASKS = new URL('./fixtures/traced-tasks.ts', import.meta.url).href;

interface Recorded {
  readonly name: string;
  readonly kind: SpanKind | undefined;
  readonly context: SpanContext;
  readonly parentSpanId: string | undefined;
  readonly attributes: Attributes;
  status: SpanStatus | undefined;
  ended: boolean;
}

const spans: Recorded[] = [];
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** Records every span it starts; parents come from the context given (or the active one). */
const tracer: Tracer = {
  startSpan(name, options, ctx) {
    const parent = trace.getSpanContext(ctx ?? context.active());
    const own: SpanContext = { traceId: parent?.traceId ?? hex(16), spanId: hex(8), traceFlags: 1 };
    const r: Recorded = {
      name,
      kind: options?.kind,
      context: own,
      parentSpanId: parent?.spanId,
      attributes: { ...options?.attributes },
      status: undefined,
      ended: false,
    };
    spans.push(r);
    const span: Span = {
      spanContext: () => own,
      setAttribute: (k, v) => {
        (r.attributes as Record<string, unknown>)[k] = v;
        return span;
      },
      setAttributes: (a) => {
        Object.assign(r.attributes, a);
        return span;
      },
      addEvent: () => span,
      addLink: () => span,
      addLinks: () => span,
      setStatus: (s) => {
        r.status = s;
        return span;
      },
      updateName: () => span,
      end: () => void (r.ended = true),
      isRecording: () => !r.ended,
      recordException: () => undefined,
    };
    return span;
  },
  startActiveSpan: (() => {
    throw new Error('not used');
  }) as Tracer['startActiveSpan'],
};

function setup(kind: 'inline' | 'forked' = 'inline') {
  const store = memoryStore(`trace-${hex(4)}`);
  const queue = new Queue({ name: 'jobs', redis: store.url, tracing: true });
  const Kind = kind === 'inline' ? InlineWorker : ForkedWorker;
  const worker = new Kind({ queue, tasks: [TASKS], handleSignals: false, errorHandler: () => undefined });
  const outcomes = recordOutcomes(worker);
  const running = worker.run();
  return {
    store,
    queue,
    worker,
    outcomes,
    stop: async () => {
      await worker.close();
      await running;
      await queue.close();
    },
  };
}

const rawEntries = async (store: ReturnType<typeof memoryStore>, queue: Queue) => {
  const client = store.connect() as unknown as { lrange(k: string, a: number, b: number): Promise<string[]>; quit(): Promise<void> };
  const entries = await client.lrange(queue.keys.waiting, 0, -1);
  await client.quit();
  return entries;
};

test('tracing off, and on without a registered tracer: the entry is byte for byte the untraced one', async () => {
  const store = memoryStore(`trace-${hex(4)}`);
  const plain = new Queue({ name: 'jobs', redis: store.url });
  const traced = new Queue({ name: 'jobs', redis: store.url, tracing: true });
  await add.delay(plain, 1, 2);
  await add.delay(traced, 1, 2);
  await traced.enqueueMany([{ name: 'add', args: [1, 2] }]);
  const entries = await rawEntries(store, plain);
  assert.equal(entries.length, 3);
  for (const entry of entries) assert.match(entry, /^1\|0\|0\|\|[^|]+\|add\|600000\|3\|\[1,2\]$/, 'no option segment');
  await plain.close();
  await traced.close();
  assert.throws(() => new Queue({ name: 'jobs', tracing: 'yes' as never }), /Expected `tracing` to be a boolean/);
});

test('with a tracer: a producer span per enqueue, its context in the entry, and a consumer span per run, its child, with the outcome', async () => {
  trace.setGlobalTracerProvider({ getTracer: () => tracer });
  const { store, queue, outcomes, stop } = setup();
  try {
    const ok = await whereAmI.delay(queue);
    const failed = await failTraced.delay(queue);
    const retried = await flakyTraced.with({ retries: 1, backoff: { type: 'fixed', delayMs: 1 } }).delay(queue, 1);
    await Promise.all([outcomes.of(ok), outcomes.of(failed), outcomes.of(retried)]);
    await store.drain(queue);
    const publish = (id: string) => spans.find((s) => s.name.startsWith('delayed publish') && s.attributes['messaging.message.id'] === id);
    const runs = (id: string) => spans.filter((s) => s.name.startsWith('delayed process') && s.attributes['messaging.message.id'] === id);
    const p = publish(ok);
    assert.ok(p && p.kind === SpanKind.PRODUCER && p.ended && p.name === 'delayed publish whereAmI');
    assert.equal(p.attributes['messaging.system'], 'delayed');
    assert.equal(p.attributes['messaging.destination.name'], 'jobs');
    const [run] = runs(ok);
    assert.ok(run && run.kind === SpanKind.CONSUMER && run.ended, 'one run span');
    assert.equal(run.context.traceId, p.context.traceId, 'the same trace');
    assert.equal(run.parentSpanId, p.context.spanId, "the producer's span is the run's parent");
    assert.equal(run.attributes['delayed.outcome'], 'succeeded');
    const seen = (await outcomes.of(ok)) as { result: { traceId: string; spanId: string } };
    assert.deepEqual(
      [seen.result.traceId, seen.result.spanId],
      [run.context.traceId, run.context.spanId],
      'the task ran inside its run span',
    );
    const [bad] = runs(failed);
    assert.equal(bad?.attributes['delayed.outcome'], 'failed');
    assert.equal(bad?.attributes['delayed.failure.reason'], 'thrown');
    assert.equal(bad?.status?.code, 2, 'ERROR');
    const twice = runs(retried);
    assert.deepEqual(
      twice.map((s) => [s.attributes['delayed.outcome'], s.attributes['delayed.attempt'], s.parentSpanId]),
      [
        ['retried', 0, publish(retried)?.context.spanId],
        ['succeeded', 1, publish(retried)?.context.spanId],
      ],
      'the retried entry kept its trace context',
    );
  } finally {
    await stop();
  }
});

test("a child process runs its task inside the run span's context (the run message carries it)", { timeout: 60_000 }, async () => {
  trace.setGlobalTracerProvider({ getTracer: () => tracer });
  const { queue, outcomes, stop } = setup('forked');
  try {
    const id = await whereAmI.delay(queue);
    const seen = (await outcomes.of(id, { timeoutMs: 30_000 })) as { result: { traceId: string; spanId: string; pid: number } };
    await waitFor(
      'the run span ended',
      () => spans.find((s) => s.name === 'delayed process whereAmI' && s.attributes['messaging.message.id'] === id)?.ended,
    );
    const run = spans.find((s) => s.name === 'delayed process whereAmI' && s.attributes['messaging.message.id'] === id);
    assert.notEqual(seen.result.pid, process.pid, 'ran in a child');
    assert.deepEqual([seen.result.traceId, seen.result.spanId], [run?.context.traceId, run?.context.spanId]);
  } finally {
    await stop();
  }
});
