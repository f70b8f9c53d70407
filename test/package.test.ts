// What `npm pack` ships, checked against the list committed in test/package-files.txt: a file that appears
// or goes away fails this test until the list is updated on purpose (UPDATE_PACKAGE_FILES=1 rewrites it).
// Also: the license, the links, no source maps without sources, nothing shipped imports what is not shipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, sh } from './newcomer-support.ts';

const EXPECTED = join(ROOT, 'test', 'package-files.txt');

interface PackInfo {
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string; size: number }[];
}

/** A file under dist/ that a clean build would not make (its source is gone): left over from an older build. */
function stale(path: string): boolean {
  const match = /^dist\/(.+?)(\.d\.ts|\.js|\.js\.map)$/.exec(path);
  return match !== null && !existsSync(join(ROOT, 'src', `${match[1]}.ts`));
}

function packed(): PackInfo {
  const [info] = JSON.parse(sh('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '--loglevel=error'], ROOT)) as PackInfo[];
  if (!info) throw new Error('Expected npm pack --dry-run to describe one package, got none');
  return info;
}

test('the package ships exactly the files in test/package-files.txt', () => {
  const info = packed();
  const files = info.files
    .map((f) => f.path)
    .filter((p) => !stale(p))
    .sort();
  if (process.env.UPDATE_PACKAGE_FILES === '1') writeFileSync(EXPECTED, `${files.join('\n')}\n`);
  const expected = readFileSync(EXPECTED, 'utf8').split('\n').filter(Boolean);
  const added = files.filter((f) => !expected.includes(f));
  const gone = expected.filter((f) => !files.includes(f));
  assert.deepEqual(
    { added, gone },
    { added: [], gone: [] },
    'The shipped files changed. If that is meant, run UPDATE_PACKAGE_FILES=1 node scripts/test.mjs test/package.test.ts and commit test/package-files.txt',
  );
  // The figures, for the record (the test log shows them).
  console.log(`package: ${info.entryCount} files, ${info.size} bytes packed, ${info.unpackedSize} unpacked`);
});

test('no source maps (their sources are not shipped), a LICENSE, the fields npm shows', () => {
  const files = packed().files.map((f) => f.path);
  assert.deepEqual(
    files.filter((f) => f.endsWith('.map')),
    [],
  );
  assert.ok(files.includes('LICENSE'));
  assert.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License\n/);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(pkg.license, 'MIT');
  for (const field of ['repository', 'homepage', 'bugs', 'engines']) assert.ok(pkg[field], `package.json has no ${field}`);
});

test('every relative link in the shipped Markdown leads to a shipped file', () => {
  const files = new Set(packed().files.map((f) => f.path));
  for (const doc of [...files].filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (target === undefined || /^(https?:|mailto:|#)/.test(target)) continue;
      const path = join(doc, '..', target.split('#')[0] as string).replace(/\\/g, '/');
      assert.ok(files.has(path), `${doc} links to ${target}, which the package does not ship`);
    }
  }
});

test('nothing shipped imports a file that is not shipped', () => {
  const files = new Set(packed().files.map((f) => f.path));
  for (const file of [...files].filter((f) => /^dist\/.*\.(js|d\.ts)$/.test(f))) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const [, spec] of text.matchAll(/(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = join(file, '..', spec as string).replace(/\\/g, '/');
      // Declarations name their neighbours by .ts or .js; TypeScript finds the .d.ts for either.
      const candidates = file.endsWith('.d.ts') ? [target.replace(/\.(ts|js)$/, '.d.ts'), target] : [target];
      assert.ok(
        candidates.some((c) => files.has(c)),
        `${file} imports ${spec}, which the package does not ship`,
      );
    }
  }
});
