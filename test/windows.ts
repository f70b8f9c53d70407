// Counting starts in sliding windows, for the rate tests and the rate bench.

/** The most starts in any window of `ms` (a window opening at each start); `times` sorted ascending. */
export function busiest(times: readonly number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (j < times.length && (times[j] as number) < (times[i] as number) + ms) j++;
    most = Math.max(most, j - i);
  }
  return most;
}
