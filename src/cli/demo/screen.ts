/** What `delayed demo` shows while it runs: the progress bar, with the events above it. */
import type { QueueStatus } from '../../index.ts';
import { formatCount } from '../render.ts';

/** Draws the progress bar and the event lines above it (in place on a terminal, plain lines elsewhere). */
export class Screen {
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #t0: number;
  #bar = '';
  #lastPlain = -1;

  constructor(out: NodeJS.WriteStream, t0: number) {
    this.#out = out;
    this.#tty = out.isTTY === true;
    this.#t0 = t0;
  }

  event(text: string): void {
    const line = `  ${`+${((performance.now() - this.#t0) / 1000).toFixed(1)}s`.padStart(7)}  ${text}`;
    if (this.#tty) this.#out.write(`\r\u001b[K${line}\n${this.#bar}`);
    else this.#out.write(`${line}\n`);
  }

  say(text: string): void {
    if (this.#tty) this.#out.write(`\r\u001b[K${text}\n${this.#bar}`);
    else this.#out.write(`${text}\n`);
  }

  progress(done: number, total: number, rate: number, s: QueueStatus | undefined): void {
    const share = total === 0 ? 1 : Math.min(1, done / total);
    const extra = s
      ? `  waiting ${formatCount(s.waiting)}  in flight ${s.inFlight}  workers ${s.workersAlive}${s.workersExpired > 0 ? ` (+${s.workersExpired} dead)` : ''}`
      : '';
    const text = `${formatCount(done).padStart(formatCount(total).length)}/${formatCount(total)} ${String(Math.floor(share * 100)).padStart(3)}%  ${rate.toFixed(0).padStart(5)} tasks/s${extra}`;
    if (!this.#tty) {
      const step = Math.floor(share * 10);
      if (step !== this.#lastPlain) {
        this.#lastPlain = step;
        this.#out.write(`  ${text}\n`);
      }
      return;
    }
    const columns = this.#out.columns || 100;
    const barWidth = Math.max(10, Math.min(40, columns - 90));
    const filled = Math.round(share * barWidth);
    this.#bar = `  ${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)} ${text}`.slice(0, columns - 1);
    this.#out.write(`\r${this.#bar}\u001b[K`);
  }

  end(): void {
    if (this.#tty && this.#bar !== '') this.#out.write('\n');
    this.#bar = '';
  }
}
