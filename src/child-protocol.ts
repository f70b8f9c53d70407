/** The messages between a worker and its child processes (JSON over Node's IPC channel). */
export type ParentMessage =
  /** `rss`: answer each task with the child's resident set size (only when the worker recycles by size). */
  | { readonly t: 'init'; readonly modules: readonly string[]; readonly rss: boolean }
  /** `args` is the JSON text from the entry, parsed by the child (a string crosses IPC without a second encoding). */
  | { readonly t: 'run'; readonly id: string; readonly name: string; readonly attempt: number; readonly args: string }
  | { readonly t: 'exit' };

export type ChildMessage =
  | { readonly t: 'ready'; readonly names: readonly string[] }
  | { readonly t: 'init-error'; readonly module: string; readonly message: string }
  /** `rss` is 0 unless the init asked for it. */
  | { readonly t: 'done'; readonly ok: true; readonly value: unknown; readonly rss: number }
  | {
      readonly t: 'done';
      readonly ok: false;
      readonly unknown?: true;
      readonly error?: { readonly name: string; readonly message: string; readonly stack: string | undefined };
      readonly rss: number;
    };

/**
 * The child's fd for its lifeline: a pipe whose other end only the parent holds. The child's watchdog thread
 * waits on it, and kills the child's process group when it closes (the parent died).
 */
export const LIFELINE_FD = 4;
