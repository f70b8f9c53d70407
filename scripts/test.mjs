// The test command: type-check (including the compile-time tests in test/types.check.ts), then run every
// test file with node's test runner against a private redis-server, or against REDIS_URL when it is set
// (the tests create their own queues under unique names and delete what they create).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { hasRedisServer, startRedis } from './redis-server.mjs';

// Build dist/ (the CLI tests run the built binary), then type-check everything, tests included.
for (const project of ['tsconfig.build.json', 'tsconfig.json']) {
  const tsc = spawnSync('npx', ['tsc', '-p', project, ...(project === 'tsconfig.json' ? ['--noEmit'] : [])], { stdio: 'inherit' });
  if (tsc.status !== 0) {
    console.error(`TypeScript failed for ${project}.`);
    process.exit(1);
  }
}

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

// Arguments: test files or folders; none means test/ and test/faults/.
const testsIn = (dir) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.test.ts')).sort().map((f) => `${dir}/${f}`) : []);
const args = process.argv.slice(2);
const files = (args.length > 0 ? args : ['test', 'test/faults']).flatMap((a) => (existsSync(a) && statSync(a).isDirectory() ? testsIn(a) : [a]));
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  env: { ...process.env, REDIS_URL: url },
});
const code = await new Promise((resolve) => child.once('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
if (redis) await redis.stop();
process.exit(code);
