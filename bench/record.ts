// What the bench's payloads are, and how handlers report that they ran: record(), from record-run.mjs (plain
// JavaScript, shared with the children of both systems), lands in a sink installed here or in a file per pid.
// Each record is "seq latencyMs": latency from the producer's stamp to handler start.
import { SINK, monoMs, record } from './record-run.mjs';

export { monoMs, record };

export interface Payload {
  seq: number;
  /** Monotonic clock (ms, CLOCK_MONOTONIC is shared by all processes on the machine) when enqueued. */
  t: number;
  pad: string;
  /** Start-up scenario only: the handler waits this many ms after recording (so every child gets tasks). */
  hold?: number;
}

export type Sink = (seq: number, latencyMs: number) => void;

export function installSink(sink: Sink | undefined): void {
  (globalThis as Record<symbol, unknown>)[SINK] = sink;
}

const PAD = 'x'.repeat(64);
/** The same ~100-byte JSON payload for every system. */
export function makePayload(seq: number): Payload {
  return { seq, t: monoMs(), pad: PAD.slice(0, 64 - String(seq).length) };
}
