// A TCP proxy on loopback between a client and Redis, to cut the network under one worker: `blackhole()`
// drops every byte both ways and keeps the sockets open (a partition: nothing errors, nothing arrives),
// `reset()` then ends every connection with a RST, and `dropReplyAfter(pattern)` forwards the next command
// that contains `pattern` and cuts that connection instead of forwarding its reply (the command ran; its
// caller never hears).
import { createServer, Socket, type Server } from 'node:net';

interface Pair {
  readonly client: Socket;
  readonly server: Socket;
  tail: string;
  /** Set once this pair carried the armed command: its next reply is dropped. */
  dropNext: boolean;
}

export interface DropRule {
  readonly pattern: string;
  /** Replies to let through before the one to drop (e.g. a blocking command's timeouts: `*-1`). */
  readonly pass?: (reply: string) => boolean;
  matchedAt?: number;
  droppedAt?: number;
  dropped?: string;
}

export class Proxy {
  readonly targetPort: number;
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  #mode: 'forward' | 'blackhole' = 'forward';
  #rule: DropRule | undefined;
  #done: ((rule: DropRule) => void) | undefined;
  port = 0;

  private constructor(targetPort: number) {
    this.targetPort = targetPort;
    this.#server = createServer((client) => this.#accept(client));
  }

  static async start(targetPort: number): Promise<Proxy> {
    const proxy = new Proxy(targetPort);
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
    const server = new Socket();
    const pair: Pair = { client, server, tail: '', dropNext: false };
    this.#pairs.add(pair);
    const end = () => {
      this.#pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('error', end);
    server.on('error', end);
    client.on('close', end);
    server.on('close', end);
    server.connect(this.targetPort, '127.0.0.1');
    client.on('data', (chunk: Buffer) => {
      if (this.#mode === 'blackhole') return;
      const text = pair.tail + chunk.toString('latin1').toLowerCase();
      const rule = this.#rule;
      if (rule && rule.matchedAt === undefined && text.includes(rule.pattern)) {
        rule.matchedAt = Date.now();
        pair.dropNext = true;
      }
      pair.tail = text.slice(-64);
      server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (this.#mode === 'blackhole') return;
      const rule = this.#rule;
      if (pair.dropNext && rule) {
        const reply = chunk.toString('latin1');
        if (rule.pass?.(reply)) return void client.write(chunk);
        rule.droppedAt = Date.now();
        rule.dropped = reply.slice(0, 200);
        this.#rule = undefined;
        pair.dropNext = false;
        client.resetAndDestroy();
        server.destroy();
        this.#done?.(rule);
        return;
      }
      client.write(chunk);
    });
  }

  /** Drops all traffic both ways from now on; connections stay open, new ones are accepted and starve. */
  blackhole(): void {
    this.#mode = 'blackhole';
  }

  /** Ends every connection with a RST and forwards again from now on. */
  reset(): void {
    for (const pair of this.#pairs) {
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

  async close(): Promise<void> {
    this.reset();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
