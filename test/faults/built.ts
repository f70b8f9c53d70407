// A compiled copy of the fault suite's worker (test/faults/worker-main.ts, tasks.ts, ledger.ts and src/) in a
// temporary folder, made once per process with the repository's own tsc. Workers started from it run as plain
// JavaScript, as in production: no TypeScript loader in the worker or its children (tsx costs about 0.35 s of
// CPU per process, which under a kill every 500 ms is more than two cores have). Used by the soak's `built` form.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let built: string | undefined;

/** The path of the compiled worker-main.js (compiling on first use). */
export function builtWorkerMain(): string {
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), 'faults-built-'));
  const config = join(dir, 'tsconfig.json');
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.json'),
      compilerOptions: {
        noEmit: false,
        declaration: false,
        sourceMap: false,
        rootDir: ROOT,
        outDir: dir,
        typeRoots: [join(ROOT, 'node_modules/@types')],
      },
      files: [join(ROOT, 'test/faults/worker-main.ts'), join(ROOT, 'test/faults/tasks.ts'), join(ROOT, 'src/child.ts')],
      include: [],
    }),
  );
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', config], { encoding: 'utf8' });
  if (tsc.status !== 0) throw new Error(`Compiling the fault suite's worker failed:\n${tsc.stdout}${tsc.stderr}`);
  cpSync(join(ROOT, 'lua'), join(dir, 'lua'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  // The compiled files are ES modules: say so to Node in the copy.
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  built = join(dir, 'test/faults/worker-main.js');
  return built;
}
