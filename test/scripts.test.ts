// What only Redis can show about the scripts: a server that does not know a script gets its full text. Every
// script's state cases (seed → run → compare) are in test/conformance/, run against Redis and against the
// memory store by test/store-conformance.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScript } from '../src/scripts.ts';
import { useInspector, withQueue } from './helpers.ts';

const redis = useInspector();

test('scripts are sent in full when the server does not know them (NOSCRIPT)', () =>
  withQueue(redis, async (q) => {
    await redis.script('FLUSH');
    const reply = (await runScript(
      redis,
      'sweep',
      [q.keys.workers, q.keys.sweepLock, q.keys.retired, q.keys.retiredLock],
      [0, 0, 10, 'me', 0],
    )) as unknown[];
    assert.equal(reply[1], 1);
  }));
