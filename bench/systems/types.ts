// The one interface every system adapter implements, so the scenarios never branch on the system.
import type { Payload } from '../record.ts';

/** inline: handler in the worker's own process; sandboxed: handler in a pool of kept child processes;
 *  threads: handler in a pool of kept worker threads (BullMQ's useWorkerThreads); forked: a fresh child process
 *  per task. */
export type Mode = 'inline' | 'sandboxed' | 'threads' | 'forked';
export const MODES: readonly Mode[] = ['inline', 'sandboxed', 'threads', 'forked'];

/**
 * How the peers are configured: 'tuned' (the default) as their own docs advise for throughput, 'defaults' as they
 * come. BENCH_PEER_SETTINGS=defaults; read in every process (the runner and bench/drain-proc.ts).
 */
export const PEER_SETTINGS: 'tuned' | 'defaults' = process.env.BENCH_PEER_SETTINGS === 'defaults' ? 'defaults' : 'tuned';

export interface Connection {
  host: string;
  port: number;
  url: string;
  /** delayed-queue only: over how many partitions its queue is spread (QueueOptions.partitions); default 1. */
  partitions?: number;
}

export interface WorkerEvents {
  /** Called in the worker's process each time a task finished successfully. */
  completed(): void;
  failed(error: unknown): void;
}

export interface RunningWorker {
  close(): Promise<void>;
}

export interface System {
  readonly name: string;
  readonly peer: boolean;
  /** The calls measured for enqueueing, e.g. { one: 'Queue.add()', many: 'Queue.addBulk()' }. */
  readonly api: { one: string; many: string };
  /** Human label of the API used for a mode, or undefined when the system has no such mode. */
  modeLabel(mode: Mode): string | undefined;
  enqueueOne(p: Payload): Promise<void>;
  /** The system's bulk API, called with one batch. */
  enqueueMany(ps: Payload[]): Promise<void>;
  startWorker(mode: Mode, concurrency: number, events: WorkerEvents): Promise<RunningWorker>;
  close(): Promise<void>;
}

export type SystemFactory = (c: Connection) => Promise<System>;
