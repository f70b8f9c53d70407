/**
 * What a worker hears from other processes with each lease renewal (`renew.lua`'s reply): cancel requests for
 * the tasks it runs (`queue.cancel`) and whether the queue is paused (`queue.pause`). No command per task: the
 * renewal is sent every `leaseMs / 3` anyway.
 */
import type { Executor } from './executor.ts';
import type { LeaseEvents } from './lease.ts';
import type { Logger } from './logger.ts';
import type { Run } from './processor.ts';

export interface ControlHost {
  readonly queueName: string;
  readonly logger: Logger;
  readonly runs: ReadonlySet<Run>;
  executor(): Executor | undefined;
  /** The queue was paused (true) or resumed (false); called on changes only. */
  pausedChanged(paused: boolean): void;
}

/** The lease events that carry cancels and pauses to a worker. */
export function controlEvents(host: ControlHost): Required<Pick<LeaseEvents, 'running' | 'cancelRequested' | 'paused'>> {
  let paused = false;
  return {
    running: (partition) => [...host.runs].filter((r) => r.keys.partition === partition && r.id !== '').map((r) => r.id),
    cancelRequested: (ids) => {
      for (const run of host.runs)
        if (!run.cancelled && !run.abandoned && ids.includes(run.id)) {
          run.cancelled = true;
          host.logger.info({ queue: host.queueName, id: run.id, name: run.name }, 'cancelling a running task');
          host.executor()?.cancel(run.id);
        }
    },
    paused: (now) => {
      if (now === paused) return;
      paused = now;
      host.logger.info({ queue: host.queueName, paused }, paused ? 'the queue is paused: taking no tasks' : 'the queue is resumed');
      host.pausedChanged(paused);
    },
  };
}
