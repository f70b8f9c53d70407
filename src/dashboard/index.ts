/** `delayed-queue/dashboard`: the web dashboard as a request handler, or on its own server. */
export { createDashboard, type DashboardOptions, type DashboardHandler } from './handler.ts';
export { serveDashboard, type ServeOptions, type RunningDashboard } from './serve.ts';
export { FEATURES, type Feature } from './features.ts';
export { runScheduledNow, type ScheduledRef } from './scheduled.ts';
export {
  listDeadLetters,
  requeueDeadLetter,
  deleteDeadLetter,
  requeueAllDeadLetters,
  type DeadLetterRecord,
  type DeadLetterPage,
  type DeadLetterPageOptions,
  type DeadLetterRef,
  type RequeueAllResult,
} from '../dead-letters.ts';
