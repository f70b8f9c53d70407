/**
 * The `--watch` screen of `delayed status`: a frame every interval until Ctrl-C, SIGTERM or q. On a terminal
 * it redraws in place (cursor hidden, raw keys); elsewhere it prints each frame after the last.
 */
import { stopSignalListener } from '../signals.ts';
import { write } from './args.ts';
import { formatDuration } from './render.ts';

export interface WatchOptions {
  readonly intervalMs: number;
  /** Redraw in place (a terminal); otherwise each frame's lines are printed, and a frame of none prints nothing. */
  readonly inPlace: boolean;
  /** The lines of frame `index` (0 first). */
  readonly frame: (index: number) => Promise<string[]>;
}

export async function watch({ intervalMs, inPlace, frame }: WatchOptions): Promise<void> {
  let quit = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    quit = true;
    wake?.();
  };
  // Every stop signal means the same here: quit after this frame.
  const onSignal = stopSignalListener(stop);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stdin = process.stdin;
  const keys = (key: Buffer) => {
    const k = key.toString();
    if (k === 'q' || k === 'Q' || k === '\u0003' || k === '\u001b') stop();
  };
  if (inPlace && stdin.isTTY) {
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', keys);
  }
  if (inPlace) write('\u001b[?25l\u001b[2J');
  try {
    for (let index = 0; !quit; index++) {
      const lines = await frame(index);
      if (inPlace) {
        lines.push('', `every ${formatDuration(intervalMs)} · q or Ctrl-C to quit`);
        const height = process.stdout.rows || 30;
        write(
          `\u001b[H${lines
            .slice(0, height - 1)
            .map((l) => `${l}\u001b[K`)
            .join('\n')}\n\u001b[J`,
        );
      } else if (lines.length > 0) {
        write(`${lines.join('\n')}\n`);
      }
      if (quit) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    if (inPlace) write('\u001b[?25h');
    if (inPlace && stdin.isTTY) {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', keys);
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
