// Store conformance: one table of cases (test/conformance/*-cases.ts: seed → run a script, a typed store call or a
// plain command → compare the reply and the state), run against Redis and against the memory store of `delayed-queue/testing`. A case that
// passes on Redis and fails in memory is a bug in the memory store (src/memory/scripts.ts follows lua/*.lua).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Queue } from '../src/index.ts';
import { memoryStore, NotSupportedByMemoryStoreError } from '../src/testing.ts';
import type { StoreCase } from './conformance/case.ts';
import { commandCases } from './conformance/command-cases.ts';
import { flowCases } from './conformance/flow-cases.ts';
import { laterCases } from './conformance/later-cases.ts';
import { levelCases } from './conformance/level-cases.ts';
import { rateCases } from './conformance/rate-cases.ts';
import { scheduleCases } from './conformance/schedule-cases.ts';
import { scriptCases } from './conformance/script-cases.ts';
import { storeCases } from './conformance/store-cases.ts';
import { dropQueue, inspector, withQueue } from './helpers.ts';

/** The table: every case, whatever script family it checks. */
export const CASES: readonly StoreCase[] = [
  ...storeCases,
  ...scriptCases,
  ...laterCases,
  ...levelCases,
  ...rateCases,
  ...flowCases,
  ...scheduleCases,
  ...commandCases,
];

describe('on Redis', () => {
  let redis: Redis;
  before(() => {
    redis = inspector();
  });
  after(async () => {
    await redis.quit();
  });
  for (const c of CASES) test(c.name, () => withQueue(redis, (q) => c.run({ redis, q }), c.options));
});

describe('on the memory store', () => {
  const store = memoryStore('conformance');
  let redis: Redis;
  before(() => {
    redis = store.connect() as unknown as Redis;
  });
  after(async () => {
    await redis.quit();
  });
  for (const c of CASES)
    test(c.name, async () => {
      const q = new Queue({ name: `t-${randomBytes(5).toString('hex')}`, redis: store.url, ...c.options });
      try {
        if (c.memory === 'unsupported')
          await assert.rejects(c.run({ redis, q }), NotSupportedByMemoryStoreError, 'a case marked unsupported fails with the typed error');
        else await c.run({ redis, q });
      } finally {
        await dropQueue(redis, q);
        await q.close();
      }
    });
});
