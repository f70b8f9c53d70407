/**
 * OpenTelemetry tracing, off unless a queue is made with `tracing: true`. It needs `@opentelemetry/api` (an
 * optional peer dependency, loaded only then) and whatever SDK the application registers; this package never
 * starts one. With it:
 * - `enqueue` makes a PRODUCER span `delayed publish <task>` and, when that span is sampled (a tracer is
 *   registered), writes its W3C trace context into the entry's option segment (`t=<traceparent>`, 55 bytes).
 *   Without a registered tracer nothing is written: the entry stays byte for byte what it is untraced.
 * - a worker of that queue makes a CONSUMER span `delayed process <task>` per run, the child of the producer's
 *   span, with the run's attempt, cut-offs and failures, ended with its outcome (`delayed.outcome`: succeeded,
 *   failed, retried, requeued; `delayed.failure.reason`), status ERROR for a failure. The task runs inside it:
 *   spans the task makes in an `InlineWorker` nest under it; a child process gets its trace context in the run
 *   message and runs the task inside it when the application starts an SDK in its children too.
 * Without `tracing: true` no code of this module runs on any path.
 */
import { createRequire } from 'node:module';
import { InvalidOptionError } from './errors.ts';

type Api = typeof import('@opentelemetry/api');
export type Span = import('@opentelemetry/api').Span;
type Context = import('@opentelemetry/api').Context;

let api: Api | null | undefined;

/** `@opentelemetry/api`, or null when it is not installed. */
export function otel(): Api | null {
  if (api === undefined) {
    try {
      api = createRequire(import.meta.url)('@opentelemetry/api') as Api;
    } catch {
      api = null;
    }
  }
  return api;
}

/** Checks the `tracing` option; true means on, and then `@opentelemetry/api` must be installed. */
export function tracingOption(value: unknown): boolean {
  if (value === undefined || value === false) return false;
  if (value !== true) throw new InvalidOptionError(`Expected \`tracing\` to be a boolean, got \`${typeof value}\``);
  if (!otel())
    throw new InvalidOptionError('Expected @opentelemetry/api to be installed for `tracing: true` (npm install @opentelemetry/api)');
  return true;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C `traceparent` of a span, or undefined when it is not sampled (no tracer registered, or not chosen). */
export function traceparentOf(span: Span): string | undefined {
  const c = span.spanContext();
  if (!span.isRecording() || !otel()?.trace.isSpanContextValid(c)) return undefined;
  return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** True for a well-formed `traceparent` of version 00. */
export function isTraceparent(text: string): boolean {
  return TRACEPARENT.test(text);
}

/** The context a remote `traceparent` names (the active one when there is none or the API is missing). */
export function contextOf(traceparent: string | undefined): Context | undefined {
  const o = otel();
  if (!o) return undefined;
  const m = traceparent === undefined ? null : TRACEPARENT.exec(traceparent);
  if (!m) return o.context.active();
  const [, traceId = '', spanId = '', flags = '00'] = m;
  return o.trace.setSpanContext(o.context.active(), { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true });
}

const SYSTEM = 'delayed';

/** Starts the producer span of one enqueue (its task id is set once made: `messaging.message.id`). */
export function publishSpan(queue: string, name: string): Span {
  const o = otel() as Api;
  return o.trace.getTracer('delayed-queue').startSpan(`delayed publish ${name}`, {
    kind: o.SpanKind.PRODUCER,
    attributes: {
      'messaging.system': SYSTEM,
      'messaging.operation.type': 'send',
      'messaging.destination.name': queue,
    },
  });
}

/** Ends a span: OK, or ERROR with the error recorded. */
export function endSpan(span: Span, err?: unknown): void {
  const o = otel() as Api;
  if (err !== undefined) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: o.SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  }
  span.end();
}

export interface RunFacts {
  readonly queue: string;
  readonly id: string;
  readonly name: string;
  readonly attempt: number;
  readonly cutoffs: number;
  readonly failures: number;
}

/** The consumer span of one run, a child of the producer's context; and the context to run the task in. */
export function processSpan(facts: RunFacts, traceparent: string | undefined): { span: Span; context: Context } {
  const o = otel() as Api;
  const parent = contextOf(traceparent) as Context;
  const span = o.trace.getTracer('delayed-queue').startSpan(
    `delayed process ${facts.name}`,
    {
      kind: o.SpanKind.CONSUMER,
      attributes: {
        'messaging.system': SYSTEM,
        'messaging.operation.type': 'process',
        'messaging.destination.name': facts.queue,
        'messaging.message.id': facts.id,
        'delayed.attempt': facts.attempt,
        'delayed.cutoffs': facts.cutoffs,
        'delayed.failures': facts.failures,
      },
    },
    parent,
  );
  return { span, context: o.trace.setSpan(parent, span) };
}

/** Ends a run's span with its outcome. */
export function endRun(span: Span, outcome: 'succeeded' | 'failed' | 'retried' | 'requeued', reason?: string, message?: string): void {
  const o = otel() as Api;
  span.setAttribute('delayed.outcome', outcome);
  if (reason !== undefined) span.setAttribute('delayed.failure.reason', reason);
  if (outcome === 'failed') span.setStatus({ code: o.SpanStatusCode.ERROR, message: message ?? reason ?? 'failed' });
  span.end();
}

/** Runs `fn` inside `context` (the run span's), for the task's own spans. */
export function within<T>(context: Context, fn: () => T): T {
  return (otel() as Api).context.with(context, fn);
}
