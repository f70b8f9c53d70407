/**
 * The worker's side of `limit()` and `semaphore()` (src/flow.ts): it answers a running task's requests (from a
 * child over IPC, or in-process) with one script call each, remembers per run the slots it holds and whether a
 * call was refused, and, when the run ends, gives the slots back and tells the processor to put the task back
 * (src/processor.ts) when a refusal ended it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from './connection.ts';
import type { Executor } from './executor.ts';
import type { FlowAnswer, FlowHandler, FlowRequest } from './flow-types.ts';
import { acquireSlot, limitCall, releaseSlots, slotMember } from './flow-store.ts';
import type { Logger } from './logger.ts';
import type { Run } from './processor.ts';
import type { Queue } from './queue.ts';

interface RunFlow {
  /** Slots held: acquire number → holds member. */
  readonly slots: Map<number, string>;
  /** Set when a call was refused: the delay of the latest refusal, ms. */
  putBackMs?: number;
}

/** How often a failed give-back is tried again (a slot never stays held by a live worker for a finished run). */
const RELEASE_TRIES = 100;

export class FlowHost {
  readonly #cmd: Client;
  readonly #queue: Queue;
  readonly #runs: ReadonlySet<Run>;
  readonly #logger: Logger;
  readonly #state = new WeakMap<Run, RunFlow>();
  /** Numbers slots within this worker (never twice: the registration id and this make a holder unique). */
  #k = 0;

  constructor(executor: Executor, cmd: Client, queue: Queue, runs: ReadonlySet<Run>, logger: Logger) {
    this.#cmd = cmd;
    this.#queue = queue;
    this.#runs = runs;
    this.#logger = logger;
    executor.flow = this.handler;
  }

  /** The worker registration whose in-flight list holds the run's entry. */
  static workerOf(run: Run): string {
    return run.list.slice(run.keys.worker('').length);
  }

  readonly handler: FlowHandler = async (taskId, request) => {
    const run = [...this.#runs].find((r) => r.id === taskId && !r.abandoned);
    if (!run) return { ok: false, error: 'the run is over (its worker stopped it or lost its lease)' };
    const state = this.#stateOf(run);
    // A request that comes after the run's outcome (a child's late message) takes nothing.
    if (run.flowEnded && request.op !== 'release') return { ok: false, error: 'the run is over' };
    try {
      return await this.#answer(run, state, request);
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  };

  async #answer(run: Run, state: RunFlow, request: FlowRequest): Promise<FlowAnswer> {
    const keys = this.#queue.keys;
    switch (request.op) {
      case 'limit': {
        const wait = await limitCall(this.#cmd, keys, request.key, request.intervalMs, request.toleranceMs);
        if (wait > 0) state.putBackMs = wait;
        return { ok: true, waitMs: wait };
      }
      case 'acquire': {
        const k = ++this.#k;
        const member = slotMember(run.id, k, request.name);
        const got = await acquireSlot(this.#cmd, keys, FlowHost.workerOf(run), run.id, k, request.n, request.name);
        if (got === 'lost') return { ok: false, error: "the worker's lease ran out; the task will run elsewhere" };
        if (got === 'full') {
          state.putBackMs = request.retryAfterMs;
          return { ok: true, waitMs: request.retryAfterMs };
        }
        state.slots.set(k, member);
        // The run ended while the slot was being taken: give it back at once.
        if (run.flowEnded) this.#giveBack(run, [member]);
        return { ok: true, waitMs: 0, slot: k };
      }
      case 'release': {
        const member = state.slots.get(request.slot);
        if (member === undefined) return { ok: true, waitMs: 0 };
        await releaseSlots(this.#cmd, keys, FlowHost.workerOf(run), 'release', [member]);
        state.slots.delete(request.slot);
        return { ok: true, waitMs: 0 };
      }
    }
  }

  /**
   * The run's outcome is known: its slots go back now (before its finishing write, on the same connection),
   * and the answer is the delay to put the task back with when a refused call ended it (else undefined).
   */
  ended(run: Run): number | undefined {
    run.flowEnded = true;
    // Most runs never call limit() or semaphore(): no state was made for them, and none is made now.
    const state = this.#state.get(run);
    if (!state) return undefined;
    if (state.slots.size > 0) this.#giveBack(run, [...state.slots.values()]);
    state.slots.clear();
    return state.putBackMs;
  }

  #stateOf(run: Run): RunFlow {
    let state = this.#state.get(run);
    if (!state) this.#state.set(run, (state = { slots: new Map() }));
    return state;
  }

  /** Gives slots back, trying again through connection errors (the sweep frees them if the worker dies first). */
  #giveBack(run: Run, members: readonly string[]): void {
    const keys = this.#queue.keys;
    void (async () => {
      for (let attempt = 1; attempt <= RELEASE_TRIES; attempt++) {
        try {
          await releaseSlots(this.#cmd, keys, FlowHost.workerOf(run), 'release', members);
          return;
        } catch (err) {
          if (attempt === 1) this.#logger.warn({ queue: this.#queue.name, id: run.id, err }, 'cannot give semaphore slots back; retrying');
          await sleep(Math.min(2000, 20 * 2 ** attempt), undefined, { ref: false });
        }
      }
    })();
  }
}
