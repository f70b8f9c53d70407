// The chaos benchmark's settings for each system (bench/chaos.ts starts bench/chaos-proc.mjs with them), tuned as
// each system's docs advise for a load where workers die: failure detection in ~3 s and a check every second for
// all three, the same limit of 3 interrupted runs before a task fails, and finished jobs removed.
export const QUEUE = 'chaos';
export const CONCURRENCY = 4;

export const SETTINGS = {
  // Library defaults (leaseMs 3000, sweepIntervalMs 1000, killGraceMs 1000; a task is failed as lost after 3
  // runs cut off): a PreforkedWorker with 4 kept child processes.
  delayed: { worker: 'PreforkedWorker', concurrency: CONCURRENCY },
  // BullMQ's sandboxed processor in child processes; its docs: the lock (lockDuration) is what tells a live worker
  // from a dead one, stalled jobs are checked every stalledInterval, a job stalled more than maxStalledCount times
  // fails; a child that dies fails the attempt, and `attempts` retries it.
  bullmq: {
    worker: { concurrency: CONCURRENCY, useWorkerThreads: false, lockDuration: 3000, stalledInterval: 1000, maxStalledCount: 3 },
    job: { attempts: 3, removeOnComplete: true },
  },
  // Bee-Queue runs jobs in the worker process (no children); its README: stallInterval is the window in which a
  // worker must report, and checkStalledJobs(interval) should run with interval at most stallInterval. Events and
  // stored jobs off, jobs removed on success (its settings for saving Redis work).
  beequeue: {
    queue: { stallInterval: 3000, getEvents: false, sendEvents: false, storeJobs: false, removeOnSuccess: true },
    checkStalledJobsMs: 1000,
    concurrency: CONCURRENCY,
  },
};
