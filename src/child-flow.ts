/**
 * The child's side of `limit()` and `semaphore()` (src/flow.ts): a running task's request goes to the worker
 * over IPC and waits for the answer of the same number. Loaded by src/child.ts; holds no Redis client.
 */
import type { ChildMessage } from './child-protocol.ts';
import type { FlowAnswer, FlowGate } from './flow-types.ts';

export class ChildFlow {
  readonly #send: (message: ChildMessage) => boolean;
  readonly #waiting = new Map<number, (answer: FlowAnswer) => void>();
  #seq = 0;

  /** `send` returns false when the message could not go (the worker is gone). */
  constructor(send: (message: ChildMessage) => boolean) {
    this.#send = send;
  }

  /** The gate a run's context carries. */
  readonly gate: FlowGate = {
    ask: (request) =>
      new Promise<FlowAnswer>((resolve) => {
        const seq = ++this.#seq;
        this.#waiting.set(seq, resolve);
        if (!this.#send({ t: 'flow', seq, request })) {
          this.#waiting.delete(seq);
          resolve({ ok: false, error: 'the worker is gone' });
        }
      }),
  };

  /** The worker answered request `seq`. */
  answered(seq: number, answer: FlowAnswer): void {
    const resolve = this.#waiting.get(seq);
    this.#waiting.delete(seq);
    resolve?.(answer);
  }
}
