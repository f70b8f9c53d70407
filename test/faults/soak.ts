// `npm run soak`: the full soak (scenario 4). 10 000 tasks of 20-500 ms through 4 workers (concurrency 4) and
// 2 sweepers; something random is killed -9 every 200 ms for 60 s and restarted; then drain and report.
// Options: SOAK_TASKS, SOAK_CHAOS_MS, SOAK_KILL_EVERY_MS, SOAK_SEED, SOAK_VICTIMS (kinds in turn, e.g.
// worker,child: half the kills on worker parents, half on children), SOAK_BUILT=1 (workers from a compiled
// copy: plain JavaScript, no TypeScript loader, as in production). Exits 1 if a task was lost.
import { report } from './report.ts';
import { runSoak } from './soak-lib.ts';

const env = process.env;
const result = await runSoak({
  tasks: Number(env.SOAK_TASKS ?? 10_000),
  chaosMs: Number(env.SOAK_CHAOS_MS ?? 60_000),
  killEveryMs: Number(env.SOAK_KILL_EVERY_MS ?? 200),
  drainMs: 900_000,
  ...(env.SOAK_SEED ? { seed: Number(env.SOAK_SEED) } : {}),
  built: env.SOAK_BUILT === '1',
  ...(env.SOAK_VICTIMS ? { victims: env.SOAK_VICTIMS.split(',') as ('worker' | 'child' | 'sweeper')[] } : {}),
  log: (line) => console.log(`${new Date().toISOString()} ${line}`),
});
report(
  `4. soak (${result.figures.tasks} tasks, ${result.figures['chaos s']} s, a kill every ${env.SOAK_KILL_EVERY_MS ?? 200} ms${env.SOAK_VICTIMS ? `, victims in turn: ${env.SOAK_VICTIMS}` : ''})`,
  result.figures,
);
const ok =
  result.lost === 0 &&
  result.failedUnrun === 0 &&
  result.sameAttemptTwice === 0 &&
  result.duplicateStarts <= result.cutOffRuns &&
  result.residue.length === 0;
console.log(ok ? 'soak: PASS' : 'soak: FAIL');
process.exit(ok ? 0 : 1);
