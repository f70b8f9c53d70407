/**
 * Named places where a process can be made to kill itself, for the fault-injection tests:
 * `DELAYED_FAILPOINT=after-dequeue` makes the process SIGKILL itself right after it took tasks, before it
 * runs them. One name per process; the variable is read once at start. Unset, each check is one comparison.
 *
 * - after-dequeue: the worker took entries into its in-flight list and has not started them
 * - before-release: the task finished and its handler ran, the release was not sent
 * - child-before-reply: (in the child) the task finished, its answer was not sent
 * - mid-sweep: the sweeper recovered one worker's list and has more to do
 * - stall-after-dequeue-reply: the worker has the reply of dequeue.lua and has not acted on it; this one
 *   SIGSTOPs the process (once) instead of killing it: a test resumes it with SIGCONT, and the code goes on
 *   from there before any timer runs (a worker stalled between its dequeue and what it does next)
 * - stall-after-renew-sent: the worker sent its first lease renewal; SIGSTOP (once) at the end of that turn of
 *   the event loop, once the command is written (a worker stalled while its renewal's reply is on its way)
 */
export type Failpoint =
  | 'after-dequeue'
  | 'before-release'
  | 'child-before-reply'
  | 'mid-sweep'
  | 'stall-after-dequeue-reply'
  | 'stall-after-renew-sent';

const armed = process.env.DELAYED_FAILPOINT;

let stalled = false;

export function failpoint(name: Failpoint): void {
  if (armed !== name) return;
  if (name !== 'stall-after-dequeue-reply' && name !== 'stall-after-renew-sent') return void process.kill(process.pid, 'SIGKILL');
  if (stalled) return;
  stalled = true;
  if (name === 'stall-after-renew-sent') setImmediate(() => process.kill(process.pid, 'SIGSTOP'));
  else process.kill(process.pid, 'SIGSTOP');
}
