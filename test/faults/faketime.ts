// Debian's faketime for the clock-skew scenarios: a process started as `faketime -f +30s node ...` sees its wall
// clock 30 s ahead (Date.now(); its monotonic clock is untouched).
import { spawnSync } from 'node:child_process';

/** faketime, installed from Debian's packages if missing (as root); a reason to skip if it cannot be had. */
export function faketimeProblem(): string | false {
  const works = () => {
    const probe = spawnSync('faketime', ['-f', '+30s', process.execPath, '-e', 'process.stdout.write(String(Date.now()))'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    return probe.status === 0 && Math.abs(Number(probe.stdout) - Date.now() - 30_000) < 5000;
  };
  if (spawnSync('faketime', ['--version'], { stdio: 'ignore' }).error && process.getuid?.() === 0) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (spawnSync('apt-get', ['install', '-y', '-qq', 'faketime'], { stdio: 'ignore', env, timeout: 180_000 }).status !== 0) {
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env, timeout: 180_000 });
      spawnSync('apt-get', ['install', '-y', '-qq', 'faketime'], { stdio: 'ignore', env, timeout: 180_000 });
    }
  }
  if (spawnSync('faketime', ['--version'], { stdio: 'ignore' }).error)
    return 'faketime is not installed and could not be installed (apt-get install faketime)';
  if (!works()) return 'faketime is installed but does not shift the clock of a node process here';
  return false;
}
