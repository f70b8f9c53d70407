/**
 * `delayed worker --tasks ./src/tasks.ts`: Node runs JavaScript, so a TypeScript task module needs a loader.
 * When tsx is installed (in the project, or beside this package) and not already loaded, the command loads
 * it into its own process and passes it to the children's Node flags; otherwise it says how to install it.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const TYPESCRIPT = /\.(ts|mts|cts|tsx)$/;

/** True when the module URL names a TypeScript file. */
export function isTypeScriptModule(url: string): boolean {
  return url.startsWith('file:') && TYPESCRIPT.test(new URL(url).pathname);
}

/** True when tsx is loaded already: `node --import tsx`, `NODE_OPTIONS='--import tsx'`, or `tsx` itself. */
export function tsxLoaded(): boolean {
  const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  return /(^|[\s=])(tsx|tsx\/esm)(\s|$)|[\\/]tsx[\\/]dist[\\/]/.test(flags);
}

/** The file URL of tsx's loader, looked up from the working directory first, then from this package; or undefined. */
export function findTsx(): string | undefined {
  for (const from of [join(process.cwd(), 'package.json'), import.meta.url]) {
    try {
      return pathToFileURL(createRequire(from).resolve('tsx')).href;
    } catch {
      // not installed there
    }
  }
  return undefined;
}

/**
 * Loads tsx into this process when a module is TypeScript and tsx is not loaded yet. Returns the Node flags
 * the worker's children need (none when nothing was loaded), or throws `Error` saying how to install tsx.
 */
export async function loadTypeScriptSupport(moduleUrls: readonly string[]): Promise<string[]> {
  const typescript = moduleUrls.filter(isTypeScriptModule);
  if (typescript.length === 0 || tsxLoaded()) return [];
  const loader = findTsx();
  if (loader === undefined) {
    throw new Error(`Expected tsx to be installed to run the TypeScript module ${typescript[0]}, got none in ${process.cwd()}`);
  }
  await import(loader);
  return ['--import', loader];
}
