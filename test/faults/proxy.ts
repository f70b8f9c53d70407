// A TCP proxy on loopback between a client and Redis, to make the network misbehave under one process:
// - `blackhole()` drops every byte both ways and keeps the sockets open (a partition: nothing errors, nothing
//   arrives); `reset()` then ends every connection with a RST and forwards again.
// - `freezeExisting()` makes every connection open now half-open: bytes are dropped both ways and a FIN from the
//   client is ignored (the peer "went away" without a word, as a crashed host or a NAT that forgot the flow),
//   while new connections are forwarded normally.
// - `hold(direction, pattern, ms)` holds the bytes of one connection in one direction, from the next command
//   that contains `pattern`, for `ms`, then delivers them all, in order (a network that delays, not drops).
//   Held bytes are delivered even if the other side closed meanwhile (a late write still reaches Redis).
// - `dropReplyAfter(pattern)` forwards the next command that contains `pattern` and cuts that connection instead
//   of forwarding its reply (the command ran; its caller never hears).
import { createServer, Socket, type Server } from 'node:net';

type Direction = 'toServer' | 'toClient';

interface Held {
  readonly rule: HoldRule;
  readonly chunks: Buffer[];
  timer: NodeJS.Timeout | undefined;
}

interface Pair {
  readonly client: Socket;
  readonly server: Socket;
  tail: string;
  /** Set once this pair carried the armed command: its next reply is dropped. */
  dropNext: boolean;
  /** Half-open: nothing passes, a FIN is ignored. */
  frozen: boolean;
  readonly held: Partial<Record<Direction, Held>>;
  /** One side closed while bytes were held: finish delivering them, then close. */
  closing: boolean;
}

export interface DropRule {
  readonly pattern: string;
  /** Replies to let through before the one to drop (e.g. a blocking command's timeouts: `*-1`). */
  readonly pass?: (reply: string) => boolean;
  matchedAt?: number;
  droppedAt?: number;
  dropped?: string;
}

export interface HoldRule {
  readonly direction: Direction;
  readonly pattern: string;
  readonly ms: number;
  /** When the command that started the hold passed (ms since the epoch). */
  matchedAt?: number;
  /** When the held bytes were delivered. */
  deliveredAt?: number;
  /** When the connection was closed by the side the bytes were for, before they were delivered (they never are). */
  discardedAt?: number;
  /** How many bytes were held (delivered or discarded). */
  bytes?: number;
  /** Delivers now (before `ms` is over); resolves once the bytes were handed to the kernel. */
  deliver?: () => Promise<void>;
}

export class TcpProxy {
  readonly targetPort: number;
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  #mode: 'forward' | 'blackhole' = 'forward';
  #rule: DropRule | undefined;
  #done: ((rule: DropRule) => void) | undefined;
  #hold: { rule: HoldRule; matched: (rule: HoldRule) => void; delivered: (rule: HoldRule) => void } | undefined;
  port = 0;

  private constructor(targetPort: number) {
    this.targetPort = targetPort;
    this.#server = createServer({ allowHalfOpen: true }, (client) => this.#accept(client));
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    const address = proxy.#server.address();
    proxy.port = typeof address === 'object' && address ? address.port : 0;
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get connections(): number {
    return this.#pairs.size;
  }

  #accept(client: Socket): void {
    const server = new Socket({ allowHalfOpen: true });
    const pair: Pair = { client, server, tail: '', dropNext: false, frozen: false, held: {}, closing: false };
    this.#pairs.add(pair);
    const end = () => this.#end(pair);
    client.on('error', end);
    server.on('error', end);
    client.on('close', end);
    server.on('close', end);
    // A FIN: the normal case closes both; a frozen pair ignores it (the far side never hears of it).
    client.on('end', () => (pair.frozen ? undefined : end()));
    server.on('end', () => (pair.frozen ? undefined : end()));
    server.connect(this.targetPort, '127.0.0.1');
    client.on('data', (chunk: Buffer) => {
      if (this.#mode === 'blackhole' || pair.frozen) return;
      const text = pair.tail + chunk.toString('latin1').toLowerCase();
      pair.tail = text.slice(-64);
      const rule = this.#rule;
      if (rule && rule.matchedAt === undefined && text.includes(rule.pattern)) {
        rule.matchedAt = Date.now();
        pair.dropNext = true;
      }
      const hold = this.#hold;
      if (hold && hold.rule.matchedAt === undefined && text.includes(hold.rule.pattern)) this.#startHold(pair, hold.rule.direction);
      this.#pass(pair, 'toServer', chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (this.#mode === 'blackhole' || pair.frozen) return;
      const rule = this.#rule;
      if (pair.dropNext && rule) {
        const reply = chunk.toString('latin1');
        if (rule.pass?.(reply)) return void this.#pass(pair, 'toClient', chunk);
        rule.droppedAt = Date.now();
        rule.dropped = reply.slice(0, 200);
        this.#rule = undefined;
        pair.dropNext = false;
        client.resetAndDestroy();
        server.destroy();
        this.#done?.(rule);
        return;
      }
      this.#pass(pair, 'toClient', chunk);
    });
  }

  #pass(pair: Pair, direction: Direction, chunk: Buffer): void {
    const held = pair.held[direction];
    if (held) held.chunks.push(chunk);
    else (direction === 'toServer' ? pair.server : pair.client).write(chunk);
  }

  #startHold(pair: Pair, direction: Direction): void {
    const hold = this.#hold!;
    const rule = hold.rule;
    rule.matchedAt = Date.now();
    const held: Held = { rule, chunks: [], timer: undefined };
    pair.held[direction] = held;
    const deliver = async (): Promise<void> => {
      clearTimeout(held.timer);
      if (pair.held[direction] !== held) return;
      delete pair.held[direction];
      const to = direction === 'toServer' ? pair.server : pair.client;
      const data = Buffer.concat(held.chunks);
      rule.bytes = data.length;
      rule.deliveredAt = Date.now();
      if (this.#hold?.rule === rule) this.#hold = undefined;
      if (data.length > 0 && !to.destroyed) await new Promise<void>((resolve) => to.write(data, () => resolve()));
      hold.delivered(rule);
      if (pair.closing) this.#end(pair);
    };
    rule.deliver = deliver;
    held.timer = setTimeout(() => void deliver(), rule.ms);
    hold.matched(rule);
  }

  #end(pair: Pair): void {
    // Bytes still held for a side that is open: deliver them first (at the hold's end), then close.
    let pending = false;
    for (const d of ['toServer', 'toClient'] as const) {
      const held = pair.held[d];
      if (!held) continue;
      const to = d === 'toServer' ? pair.server : pair.client;
      // The side the bytes are for has closed (or sent its FIN): it will not read them.
      if (!to.destroyed && !to.readableEnded) {
        pending = true;
        continue;
      }
      clearTimeout(held.timer);
      delete pair.held[d];
      held.rule.discardedAt = Date.now();
      held.rule.bytes = held.chunks.reduce((n, c) => n + c.length, 0);
      if (this.#hold?.rule === held.rule) this.#hold = undefined;
    }
    if (pending) {
      pair.closing = true;
      return;
    }
    this.#pairs.delete(pair);
    if (pair.closing) {
      pair.server.end();
      pair.client.end();
      setTimeout(() => {
        pair.client.destroy();
        pair.server.destroy();
      }, 1000).unref();
      return;
    }
    pair.client.destroy();
    pair.server.destroy();
  }

  /** Drops all traffic both ways from now on; connections stay open, new ones are accepted and starve. */
  blackhole(): void {
    this.#mode = 'blackhole';
  }

  /**
   * Every connection open now goes half-open: nothing passes either way, the client's FIN is ignored, the
   * sockets stay. Connections made from now on are forwarded. Returns how many were frozen.
   */
  freezeExisting(): number {
    for (const pair of this.#pairs) pair.frozen = true;
    return this.#pairs.size;
  }

  /** Ends every connection with a RST and forwards again from now on. */
  reset(): void {
    for (const pair of this.#pairs) {
      for (const held of Object.values(pair.held)) clearTimeout(held.timer);
      pair.client.resetAndDestroy();
      pair.server.destroy();
    }
    this.#pairs.clear();
    this.#mode = 'forward';
  }

  /**
   * Arms: the next client command whose bytes contain `pattern` (lower case) is forwarded; its connection's
   * next reply (not passed by `pass`) is dropped and the connection cut. Resolves when that happened.
   */
  dropReplyAfter(pattern: string, pass?: (reply: string) => boolean): Promise<DropRule> {
    const rule: DropRule = { pattern: pattern.toLowerCase(), ...(pass ? { pass } : {}) };
    this.#rule = rule;
    return new Promise((resolve) => (this.#done = resolve));
  }

  /**
   * Arms: on the connection of the next client command whose bytes contain `pattern` (lower case), hold every
   * byte going `direction` for `ms` from then on ('toServer': that command included; 'toClient': its reply and
   * every later one), then deliver them in order. `matched` resolves when the hold began, `delivered` when
   * the bytes were handed on; `rule.deliver()` delivers early.
   */
  hold(direction: Direction, pattern: string, ms: number): { rule: HoldRule; matched: Promise<HoldRule>; delivered: Promise<HoldRule> } {
    const rule: HoldRule = { direction, pattern: pattern.toLowerCase(), ms };
    let matched!: (rule: HoldRule) => void;
    let delivered!: (rule: HoldRule) => void;
    const matchedP = new Promise<HoldRule>((resolve) => (matched = resolve));
    const deliveredP = new Promise<HoldRule>((resolve) => (delivered = resolve));
    this.#hold = { rule, matched, delivered };
    return { rule, matched: matchedP, delivered: deliveredP };
  }

  async close(): Promise<void> {
    this.reset();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
