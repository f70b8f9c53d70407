// The bench runs delayed-queue the way a user of the published package does: from the compiled dist/
// (the package's self-reference 'delayed-queue' resolves there), with plain-JavaScript task modules.
// ensureBuilt() runs `tsc -p tsconfig.build.json` when dist/ is missing or older than src/.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');
const DIST = join(ROOT, 'dist');

/** The src/ files whose dist/ output is missing or older than them, and whether the build config changed. */
export function staleSources(): string[] {
  const stale: string[] = [];
  const config = Math.max(...['tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(join(ROOT, f)).mtimeMs));
  for (const file of readdirSync(SRC, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts') || file.endsWith('.d.ts')) continue;
    const out = join(DIST, file.replace(/\.ts$/, '.js'));
    if (!existsSync(out)) {
      stale.push(file);
      continue;
    }
    const built = statSync(out).mtimeMs;
    if (built < statSync(join(SRC, file)).mtimeMs || built < config) stale.push(file);
  }
  return stale;
}

/** Builds dist/ if it is missing or stale; throws if it is still stale afterwards. Returns what it did. */
export function ensureBuilt(log: (msg: string) => void): string {
  const stale = staleSources();
  if (stale.length === 0) return 'dist/ up to date';
  log(`building dist/ (${stale.length} stale: ${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', …' : ''})`);
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, encoding: 'utf8' });
  const left = staleSources();
  if (left.length > 0) {
    throw new Error(`npm run build did not produce a fresh dist/ (still stale: ${left.join(', ')}):\n${r.stdout}${r.stderr}`);
  }
  // tsc emits despite type errors (src/ may be mid-edit by someone else): say so, and go on with what it emitted.
  if (r.status !== 0) {
    log(`!!! tsc reported errors (dist/ was emitted anyway):\n${(r.stdout + r.stderr).trim().split('\n').slice(0, 10).join('\n')}`);
    return 'dist/ rebuilt, with type errors';
  }
  return 'dist/ rebuilt';
}
