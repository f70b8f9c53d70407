// The test command: format and lint check, type-check (including the compile-time tests in test/types.check.ts), then run every
// test file with node's test runner against a private redis-server, or against REDIS_URL when it is set
// (the tests create their own queues under unique names and delete what they create). Then the integration
// tests run a second time against a private 3-master Redis Cluster (or CLUSTER_URL=redis+cluster://...).
//   node scripts/test.mjs                 everything, single Redis then cluster
//   node scripts/test.mjs FILES...        only these files, single Redis
//   node scripts/test.mjs --cluster [F]   only the cluster pass (of these files)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasRedisServer, startRedis } from './redis-server.mjs';
import { startCluster } from './redis-cluster.mjs';

// What runs a second time on the cluster: everything that drives queues and workers through REDIS_URL
// (the CLI and status tests spawn commands with single-node URLs; test/cluster.test.ts covers those).
const CLUSTER_SUITE = [
  'test/queue.test.ts',
  'test/inline-worker.test.ts',
  'test/partitions.test.ts',
  'test/scripts.test.ts',
  'test/store-conformance.test.ts',
  'test/child-workers.test.ts',
  'test/recovery.test.ts',
  'test/later.test.ts',
  'test/schedules.test.ts',
  'test/retries.test.ts',
  'test/results.test.ts',
  'test/unique.test.ts',
  'test/pause.test.ts',
  'test/progress.test.ts',
  'test/cancel.test.ts',
  'test/config.test.ts',
  'test/priorities.test.ts',
  'test/priority-tasks.test.ts',
  'test/rate.test.ts',
  'test/flow.test.ts',
];

// Formatting and lint first (biome.json): `npm run format` fixes what the formatter finds.
const biome = spawnSync('npx', ['biome', 'ci', '--colors=off', '.'], { stdio: 'inherit' });
if (biome.status !== 0) {
  console.error('Formatting or lint failed: run `npm run format`, then fix what the linter reports.');
  process.exit(1);
}

// Build dist/ (the CLI tests run the built binary), then type-check everything, tests included.
for (const project of ['tsconfig.build.json', 'tsconfig.json']) {
  const tsc = spawnSync('npx', ['tsc', '-p', project, ...(project === 'tsconfig.json' ? ['--noEmit'] : [])], { stdio: 'inherit' });
  if (tsc.status !== 0) {
    console.error(`TypeScript failed for ${project}.`);
    process.exit(1);
  }
}

const args = process.argv.slice(2);
const clusterOnly = args[0] === '--cluster';
const fileArgs = clusterOnly ? args.slice(1) : args;
const testsIn = (dir) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.test.ts'))
        .sort()
        .map((f) => `${dir}/${f}`)
    : [];
const expand = (list) => list.flatMap((a) => (existsSync(a) && statSync(a).isDirectory() ? testsIn(a) : [a]));

// Each pass writes TAP to stdout and its failed tests alone to a file; the failures of every pass are printed
// again at the very end, so they are seen even where only the tail of a long log is kept.
// (Made by the first pass: an exit before any pass leaves no directory behind.)
let failuresDir;
const failureReports = [];

async function runTests(name, files, url) {
  failuresDir ??= mkdtempSync(join(tmpdir(), 'delayed-test-'));
  const failuresFile = join(failuresDir, `${failureReports.length}.txt`);
  failureReports.push({ name, file: failuresFile });
  // What node picks by itself: spec in a terminal, TAP otherwise (CI logs).
  const reporters = [`--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`, '--test-reporter-destination=stdout'];
  reporters.push('--test-reporter=./scripts/failures-reporter.mjs', `--test-reporter-destination=${failuresFile}`);
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...reporters, ...files], {
    stdio: 'inherit',
    env: { ...process.env, REDIS_URL: url },
  });
  return await new Promise((resolve) => child.once('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
}

function printFailures() {
  for (const { name, file } of failureReports) {
    const text = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
    console.log(text === '' ? `\n${name}: no test failed.` : `\n${name}: failed tests\n${text}`);
  }
  if (failuresDir) rmSync(failuresDir, { recursive: true, force: true });
}

let code = 0;
if (!clusterOnly) {
  let redis;
  let url = process.env.REDIS_URL;
  if (!url) {
    if (!hasRedisServer()) {
      console.error('redis-server is not installed: install it (Debian/Ubuntu: apt-get install redis-server) or set REDIS_URL.');
      process.exit(1);
    }
    redis = await startRedis();
    url = redis.url;
    console.log(`Private redis-server for the tests at ${url}`);
  }
  code = await runTests('The single-Redis pass', expand(fileArgs.length > 0 ? fileArgs : ['test', 'test/faults']), url);
  if (redis) await redis.stop();
}

if (clusterOnly || fileArgs.length === 0) {
  let cluster;
  let url = process.env.CLUSTER_URL;
  if (!url && hasRedisServer()) {
    cluster = await startCluster();
    url = cluster.url;
  }
  if (!url) {
    console.error('The cluster pass needs redis-server (to start a private cluster) or CLUSTER_URL=redis+cluster://host:port,...');
    code ||= 1;
  } else {
    console.log(`The integration tests again, on a Redis Cluster at ${url}`);
    const clusterCode = await runTests('The cluster pass', expand(fileArgs.length > 0 ? fileArgs : CLUSTER_SUITE), url);
    code ||= clusterCode;
  }
  if (cluster) await cluster.stop();
}
printFailures();
process.exit(code);
