// A node:test reporter that writes only the failed tests: file, the names from the outer suite in, and the first
// lines of the error. scripts/test.mjs runs it beside the TAP reporter and prints what it wrote at the very end,
// so the failures of the first pass stay visible when a log is cut to its tail.
import { relative } from 'node:path';

const MAX_ERROR_LINES = 12;

function describe(error) {
  // A test that fails because an inner test failed says so only as a wrapper: report the inner one alone.
  if (error?.failureType === 'subtestsFailed') return undefined;
  const inner = error?.code === 'ERR_TEST_FAILURE' && error.cause !== undefined ? error.cause : error;
  const text = inner instanceof Error ? (inner.stack ?? `${inner.name}: ${inner.message}`) : String(inner);
  const lines = text.split('\n').filter((l) => !/^\s+at (.*\()?node:/.test(l)); // node's own frames say nothing here
  const kept = lines.slice(0, MAX_ERROR_LINES);
  if (lines.length > kept.length) kept.push(`... (${lines.length - kept.length} more lines)`);
  return kept.map((l) => `    ${l}`).join('\n');
}

export default async function* failuresReporter(source) {
  const path = []; // names of the tests that started and did not end yet, by nesting
  let failures = 0;
  for await (const event of source) {
    const { data } = event;
    if (event.type === 'test:start') {
      path.length = data.nesting;
      path[data.nesting] = data.name;
    } else if (event.type === 'test:fail') {
      path.length = data.nesting;
      const error = describe(data.details?.error);
      if (error === undefined) continue;
      failures++;
      const file = data.file === undefined ? '?' : relative(process.cwd(), data.file);
      yield `not ok: ${file}: ${[...path, data.name].join(' > ')}\n${error}\n`;
    }
  }
  yield failures === 0 ? '' : `(${failures} failed)\n`;
}
