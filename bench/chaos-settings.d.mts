// Types of bench/chaos-settings.mjs (plain JavaScript, read by plain-Node worker processes too).
export declare const QUEUE: string;
export declare const CONCURRENCY: number;
export declare const SETTINGS: {
  readonly delayed: { readonly worker: string; readonly concurrency: number };
  readonly bullmq: {
    readonly worker: Record<string, number | boolean>;
    readonly job: { readonly attempts: number; readonly removeOnComplete: boolean };
  };
  readonly beequeue: {
    readonly queue: Record<string, number | boolean>;
    readonly checkStalledJobsMs: number;
    readonly concurrency: number;
  };
};
