// One worker process for the multi-process and latency scenarios. The bench runner forks it:
//   drain-proc.ts <systemId> <mode> <concurrency> <connection as JSON: {host, port, url, partitions?}>
// Protocol over IPC: child -> {ready}; parent -> {start}; child -> {progress, done, failed, firstAt, lastAt}
// every 10 ms while it changes; parent -> {stop}; child closes its worker, writes what its in-process
// handlers recorded to BENCH_RECORD_DIR/<pid>.txt, -> {closed}, exits.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installSink, monoMs } from './record.ts';
import { loadSystem, type SystemId } from './systems/index.ts';
import type { Connection, Mode, RunningWorker } from './systems/types.ts';

export type ParentMsg = { type: 'start' } | { type: 'stop' };
export type ChildMsg =
  | { type: 'ready' }
  | { type: 'progress'; done: number; failed: number; firstAt: number; lastAt: number }
  | { type: 'closed' }
  | { type: 'error'; message: string };

const [systemId, mode, concurrency, connJson] = process.argv.slice(2);
const send = (m: ChildMsg) => process.send?.(m);

async function main(): Promise<void> {
  const lines: string[] = [];
  installSink((seq, lat) => {
    lines.push(`${seq} ${lat.toFixed(3)}`);
  });
  const open = await loadSystem(systemId as SystemId);
  const system = await open(JSON.parse(connJson ?? '') as Connection);
  let done = 0;
  let failed = 0;
  let firstAt = 0;
  let lastAt = 0;
  let sent = -1;
  let worker: RunningWorker | undefined;
  const timer = setInterval(() => {
    if (done + failed !== sent) {
      sent = done + failed;
      send({ type: 'progress', done, failed, firstAt, lastAt });
    }
  }, 10);
  process.on('message', async (m: ParentMsg) => {
    try {
      if (m.type === 'start') {
        worker = await system.startWorker(mode as Mode, Number(concurrency), {
          completed() {
            done++;
            lastAt = monoMs();
            firstAt ||= lastAt;
          },
          failed(e) {
            failed++;
            lastAt = monoMs();
            if (failed <= 3) console.error('[drain-proc] task failed:', e);
          },
        });
      } else if (m.type === 'stop') {
        clearInterval(timer);
        await worker?.close();
        await system.close();
        const dir = process.env.BENCH_RECORD_DIR;
        if (dir && lines.length) writeFileSync(join(dir, `${process.pid}.txt`), lines.join('\n') + '\n');
        send({ type: 'closed' });
        process.disconnect?.();
        setTimeout(() => process.exit(0), 50);
      }
    } catch (e) {
      send({ type: 'error', message: String((e as Error)?.stack ?? e) });
    }
  });
  send({ type: 'ready' });
}

main().catch((e) => {
  send({ type: 'error', message: String((e as Error)?.stack ?? e) });
  setTimeout(() => process.exit(1), 50);
});
