// The systems under test, loaded lazily so that one that fails to load (e.g. ours while src/ is being
// written) is reported and skipped instead of stopping the whole run.
import type { SystemFactory } from './types.ts';

export const SYSTEM_IDS = ['delayed', 'bullmq', 'beequeue'] as const;
export type SystemId = (typeof SYSTEM_IDS)[number];

export async function loadSystem(id: SystemId): Promise<SystemFactory> {
  switch (id) {
    case 'delayed':
      return (await import('./delayed.ts')).open;
    case 'bullmq':
      return (await import('./bullmq.ts')).open;
    case 'beequeue':
      return (await import('./beequeue.ts')).open;
  }
}
