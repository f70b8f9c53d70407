/**
 * The features the dashboard will show once the library has them. Each is one entry here: when its issue
 * lands, set `available: true`, add its read to `QueueData` (data.ts), its route to handler.ts and its
 * section to the client (one `render…` function). Until then the page says plainly that it does not exist
 * yet; nothing is faked.
 */
export interface Feature {
  readonly key: 'scheduled' | 'cron' | 'results' | 'cancel' | 'pause' | 'progress';
  readonly title: string;
  /** The issue that brings it. */
  readonly issue: number;
  readonly available: boolean;
}

export const FEATURES: readonly Feature[] = [
  { key: 'scheduled', title: 'Scheduled and retrying tasks', issue: 12, available: true },
  { key: 'cron', title: 'Cron schedules', issue: 12, available: true },
  { key: 'results', title: 'Task results and lookup by id', issue: 13, available: true },
  { key: 'cancel', title: 'Cancel a task', issue: 13, available: true },
  { key: 'pause', title: 'Pause / resume the queue', issue: 13, available: true },
  { key: 'progress', title: 'Task progress', issue: 13, available: true },
];
