// MONITOR on a raw socket: every command Redis runs, as (args, source). ioredis' own monitor() can lose the
// race between MONITOR's +OK and the first line that follows it in the same read ("Command queue state error",
// seen under load), so the tests read the stream themselves. Single Redis only; lines are CRLF-terminated simple
// strings in which Redis escapes every byte that is not printable, so a line never holds a raw CR or LF.
import { connect } from 'node:net';

export interface Monitor {
  close(): void;
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '"': '"', '\\': '\\' };

/** The quoted arguments of one MONITOR line, unescaped. */
export function monitorArgs(rest: string): string[] {
  const args: string[] = [];
  for (const m of rest.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    args.push(
      (m[1] ?? '').replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_all, e: string) =>
        e.length === 3 ? String.fromCharCode(Number.parseInt(e.slice(1), 16)) : (ESCAPES[e] ?? e),
      ),
    );
  }
  return args;
}

/** Resolves once Redis answered MONITOR: every command Redis runs from then on reaches `onCommand`. */
export function monitor(url: string, onCommand: (args: string[], source: string) => void): Promise<Monitor> {
  const { hostname, port } = new URL(url);
  return new Promise<Monitor>((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let buffered = '';
    let started = false;
    socket.setEncoding('latin1');
    socket.once('connect', () => socket.write('MONITOR\r\n'));
    socket.on('error', (err) => {
      if (!started) reject(err);
    });
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let end = buffered.indexOf('\r\n'); end >= 0; end = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (!started) {
          if (line !== '+OK') return reject(new Error(`Expected +OK to MONITOR, got ${JSON.stringify(line)}`));
          started = true;
          resolve({ close: () => socket.destroy() });
          continue;
        }
        const m = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line);
        if (m) onCommand(monitorArgs(m[2] ?? ''), m[1] ?? '');
      }
    });
  });
}
