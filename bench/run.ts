// npm run bench: starts a private redis-server, runs scenarios a–k against delayed-queue (k: its per-feature costs),
// BullMQ and Bee-Queue, prints the tables and writes bench/results/latest.{json,md}.
//   BENCH_QUICK=1        ~1-2 minute smoke run with small counts (1 repetition)
//   BENCH_REPEAT=n       repetitions per scenario (default 3; later ones are skipped past BENCH_BUDGET_S, default 860)
//   BENCH_ONLY=a,c,h     run only these scenarios; BENCH_ONLY=cluster (alone or in the list) adds the 3-master
//                        Redis Cluster scenario, which is off otherwise
//   BENCH_SYSTEMS=bullmq,beequeue,delayed   run only these systems
//   BENCH_PEER_SETTINGS=defaults            the peers as they come, instead of tuned as their docs advise
//   BENCH_RECORD=1       also write bench/full-run.md (tracked by git: the source of the README's Performance table)
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { config, log, type Ctx, type Sys } from './harness.ts';
import { ensureBuilt } from './build.ts';
import { cluster } from './cluster.ts';
import { startRedis } from './redis.ts';
import { ceiling, commands, memory, type CommandBreakdown } from './redis-scenarios.ts';
import * as sc from './scenarios.ts';
import { kinds } from './kinds.ts';
import { features } from './features.ts';
import { startup } from './startup.ts';
import { SYSTEM_IDS, loadSystem, type SystemId } from './systems/index.ts';
import { MODES, PEER_SETTINGS } from './systems/types.ts';
import { markdownTable, summarize, textTable } from './table.ts';
import { issue16Targets, TARGETS_NOTE, TARGETS_TITLE, targetsMarkdown, targetsText } from './targets.ts';

const RESULTS = new URL('./results/', import.meta.url);
const RECORD_HEADER = `# delayed-queue benchmark

The output of the full \`npm run bench\` that the README's Performance table is taken from, written by
\`BENCH_RECORD=1 npm run bench\` (the same as \`bench/results/latest.md\`, which git ignores; tables aligned by the
formatter; kept under bench/, which the npm package does not ship).
`;

async function loadSystems(ctx: Omit<Ctx, 'systems'>, wanted: SystemId[]): Promise<{ systems: Sys[]; skipped: string[] }> {
  const systems: Sys[] = [];
  const skipped: string[] = [];
  for (const id of wanted) {
    try {
      const open = await loadSystem(id);
      await ctx.redis.admin.flushall();
      const s = await open(ctx.conn);
      const labels = Object.fromEntries(MODES.map((m) => [m, s.modeLabel(m)]));
      systems.push({ id, name: s.name, peer: s.peer, api: s.api, open, label: (m) => labels[m] });
      await s.close();
    } catch (e) {
      skipped.push(`${id}: ${(e as Error)?.message ?? e}`);
      log(`!!! system ${id} could not be loaded and is skipped: ${(e as Error)?.stack ?? e}`);
    }
  }
  // ours first, then the peers
  systems.sort((a, b) => Number(a.peer) - Number(b.peer));
  return { systems, skipped };
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function breakdownText(b: CommandBreakdown[]): string {
  const line = (m: Record<string, number>) =>
    Object.entries(m)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ') || '–';
  return b.map((x) => `${x.system} — ${x.variant}\n  enqueue: ${line(x.enqueue)}\n  process: ${line(x.process)}`).join('\n');
}

async function main(): Promise<void> {
  const cfg = config();
  const started = Date.now();
  const loadAtStart = os.loadavg()[0] ?? 0;
  if (loadAtStart > os.cpus().length)
    log(`!!! load average ${loadAtStart.toFixed(1)} on ${os.cpus().length} CPUs: other work is running, numbers will be noisy`);
  const redis = await startRedis();
  let exitCode = 0;
  try {
    const conn = { host: redis.host, port: redis.port, url: redis.url };
    log(`private redis-server ${redis.version} on port ${redis.port} (no persistence); quick=${cfg.quick} repeat=${cfg.repeat}`);
    const wanted = (process.env.BENCH_SYSTEMS?.split(',').map((s) => s.trim()) ?? [...SYSTEM_IDS]) as SystemId[];
    if (wanted.includes('delayed')) log(ensureBuilt(log));
    const { systems, skipped } = await loadSystems({ redis, conn, cfg }, wanted);
    const ctx: Ctx = { redis, conn, cfg, systems };
    const breakdown: CommandBreakdown[] = [];
    const all: Array<[string, () => sc.Scenario]> = [
      ['h', () => ceiling(ctx)],
      ['a', () => sc.enqueueOne(ctx)],
      ['b', () => sc.enqueueBulk(ctx)],
      ['c', () => sc.drain(ctx, 1)],
      ['d', () => sc.drain(ctx, 2)],
      ['e', () => sc.latency(ctx)],
      ['f', () => memory(ctx)],
      ['g', () => commands(ctx, breakdown)],
      ['i', () => startup(ctx)],
      ['j', () => kinds(ctx)],
      ['k', () => features(ctx)],
    ];
    // Off unless asked for by name: it starts a 3-master cluster and measures delayed-queue alone.
    if (cfg.only?.has('cluster')) all.push(['cluster', () => cluster(ctx)]);
    const plan = all.filter(([id]) => !cfg.only || cfg.only.has(id)).map(([, make]) => make());
    const results = plan.map((p) => p.result);
    const crashed = new Set<sc.Scenario>();
    // Repetitions are interleaved (rep 1 of every scenario, then rep 2, …) so that a change in the
    // machine's load spreads over all scenarios; a repetition is skipped if it would not fit the budget.
    let repsDone = 0;
    const loads = new Map<(typeof plan)[number], number[]>();
    let longestRep = 0;
    for (let rep = 1; rep <= cfg.repeat; rep++) {
      const elapsed = (Date.now() - started) / 1000;
      if (rep > 1 && elapsed + longestRep > cfg.budgetSeconds) {
        log(
          `!!! skipping repetitions ${rep}-${cfg.repeat}: ${Math.round(elapsed)} s spent, one takes ~${Math.round(longestRep)} s, budget ${cfg.budgetSeconds} s`,
        );
        break;
      }
      const repStart = Date.now();
      for (const p of plan) {
        if (crashed.has(p)) continue;
        const t = Date.now();
        log(`--- scenario ${p.result.id}, repetition ${rep}/${cfg.repeat}`);
        (loads.get(p) ?? loads.set(p, []).get(p)!).push(os.loadavg()[0] ?? 0);
        try {
          await p.rep(rep);
        } catch (e) {
          log(`!!! scenario ${p.result.id} crashed: ${(e as Error)?.stack ?? e}`);
          p.result.title += ` — CRASHED: ${(e as Error)?.message ?? e}`;
          crashed.add(p);
          exitCode = 1;
        }
        p.result.seconds = (p.result.seconds ?? 0) + (Date.now() - t) / 1000;
      }
      repsDone = rep;
      longestRep = Math.max(longestRep, (Date.now() - repStart) / 1000);
    }
    for (const [p, at] of loads)
      p.result.notes.push(`1-min load average at the start of each repetition: ${at.map((l) => l.toFixed(1)).join(', ')}.`);
    for (const p of plan) {
      try {
        await p.close?.();
      } catch (e) {
        log(`!!! closing scenario ${p.result.id}: ${(e as Error)?.stack ?? e}`);
      }
    }
    results.sort((a, b) => a.id.localeCompare(b.id));

    const meta = {
      date: new Date().toISOString(),
      commit: gitCommit(),
      node: process.version,
      redis: redis.version,
      cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
      quick: cfg.quick,
      repeat: cfg.repeat,
      repetitionsDone: repsDone,
      loadAverage: { atStart: loadAtStart, atEnd: os.loadavg()[0] },
      seconds: Math.round((Date.now() - started) / 1000),
      skipped,
    };
    const head =
      `delayed-queue benchmark — ${meta.date}, commit ${meta.commit ?? '?'}, Node ${meta.node}, Redis ${meta.redis}, ${meta.cpus}\n` +
      `${repsDone} of ${cfg.repeat} repetition(s)${cfg.quick ? ', QUICK mode (small counts)' : ''}; 1-min load average ${loadAtStart.toFixed(1)} at start, ${(os.loadavg()[0] ?? 0).toFixed(1)} at end; cells are median (min–max); "÷ best peer" divides the median by the best peer median of the same group (for ms, bytes and commands lower is better).` +
      `\nPeers: ${PEER_SETTINGS === 'tuned' ? 'tuned as their docs advise (BullMQ removeOnComplete: true; Bee-Queue producer isWorker/getEvents/sendEvents/storeJobs off, worker getEvents/sendEvents/storeJobs off and removeOnSuccess on)' : 'library defaults (BENCH_PEER_SETTINGS=defaults)'}; every drain's workers run in fresh processes forked by the runner.` +
      (skipped.length ? `\nSKIPPED systems: ${skipped.join('; ')}` : '');
    const fails = results.flatMap((r) =>
      r.rows.flatMap((row) => row.fails.map((f) => `${r.id}. ${row.system} / ${row.variant} [${row.group}]: ${f}`)),
    );
    if (fails.length) exitCode = 1;

    const text: string[] = [head, ''];
    const md: string[] = [`# delayed-queue benchmark`, '', head.replace(/^delayed-queue benchmark — /, 'Run: ').replace(/\n/g, '\n\n'), ''];
    for (const r of results) {
      const title = `${r.id}. ${r.title}${r.seconds ? ` [${Math.round(r.seconds)} s in all]` : ''}`;
      const notes = [...r.notes, ...r.rows.flatMap((row) => row.notes.map((n) => `${row.system}: ${n}`))];
      text.push(title, textTable(r), ...notes.map((n) => `  * ${n}`), '');
      md.push(`## ${title}`, '', markdownTable(r), '', ...notes.map((n) => `- ${n}`), '');
      if (r.id === 'g' && breakdown.length) {
        text.push('Commands per task by name (first repetition):', breakdownText(breakdown), '');
        md.push('Commands per task by name (first repetition):', '', '```', breakdownText(breakdown), '```', '');
      }
    }
    const targets = issue16Targets(results, cfg.childConcurrency);
    if (targets.some((t) => t.met !== 'not measured')) {
      text.push(TARGETS_TITLE, targetsText(targets), `  * ${TARGETS_NOTE}`, '');
      md.push(`## ${TARGETS_TITLE}`, '', targetsMarkdown(targets), '', `- ${TARGETS_NOTE}`, '');
    }
    if (fails.length) {
      const banner = ['!!!!!!!! FAIL !!!!!!!!', ...fails.map((f) => `FAIL ${f}`)];
      text.push(...banner, '');
      md.push('## FAILURES', '', ...fails.map((f) => `- **FAIL** ${f}`), '');
    }
    process.stdout.write(text.join('\n') + '\n');

    mkdirSync(RESULTS, { recursive: true });
    const json = {
      meta,
      scenarios: results.map((r) => ({
        ...r,
        rows: r.rows.map((row) => ({
          ...row,
          summary: Object.fromEntries(r.metrics.map((m) => [m.key, summarize(r, row, m)])),
        })),
      })),
      commandBreakdown: breakdown,
      targets,
      failures: fails,
    };
    writeFileSync(new URL('latest.json', RESULTS), JSON.stringify(json, null, 2) + '\n');
    writeFileSync(new URL('latest.md', RESULTS), md.join('\n'));
    log(`wrote bench/results/latest.json and latest.md in ${meta.seconds} s total`);
    if (process.env.BENCH_RECORD === '1') {
      const record = new URL('./full-run.md', import.meta.url);
      writeFileSync(record, [RECORD_HEADER, ...md.slice(1)].join('\n'));
      // The formatter aligns the tables (as `npm run format` would), so that `npm test`'s check passes.
      execFileSync('npx', ['biome', 'format', '--write', record.pathname], { stdio: 'ignore' });
      log('wrote bench/full-run.md (commit it with the README table taken from it)');
    }
  } finally {
    await redis.stop();
  }
  process.exit(exitCode);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
