/**
 * The memory store's connections. A `MemoryClient` answers the calls the library makes on an ioredis client
 * (the seam is there, at the command level: `src/scripts.ts` sends `EVALSHA <sha>`, and the memory client runs
 * the script of that name from ./scripts.ts; plain commands run from ./commands.ts; pipelines and MULTI run
 * their commands in order), so every code path above the connection is the one that runs on Redis, and the
 * Redis path costs nothing more. A command or script without a memory implementation rejects with
 * `NotSupportedByMemoryStoreError`, as does WAIT (no replicas here).
 *
 * Replies come back on a later turn of the event loop (as from a socket); commands run in the order they were
 * sent, each at once and whole, so a script is atomic as in Redis. BLMOVE blocks until a push or its timeout
 * (real time), and CLIENT UNBLOCK ends it, as in Redis.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CLOCK_MOVED } from '../redis-source.ts';
import { NotSupportedByMemoryStoreError } from '../errors.ts';
import { SCRIPT_NAMES, scriptSha } from '../scripts.ts';
import { COMMANDS } from './commands.ts';
import { bytes, Keyspace } from './keyspace.ts';
import { FLOW_SCRIPTS } from './flow-scripts.ts';
import { MEMORY_SCRIPTS, type Reply } from './scripts.ts';

type Arg = string | number | Buffer;
type Mode = 'text' | 'bytes';

const byDigest = new Map<string, string>(SCRIPT_NAMES.map((name) => [scriptSha(name), name]));

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex');
}

/** A reply in the form ioredis gives for command `name` (HGETALL: an object). */
function reply(name: string, value: Reply, mode: Mode): unknown {
  const converted = out(value, mode);
  if (name.toLowerCase() !== 'hgetall' || !Array.isArray(converted)) return converted;
  const object: Record<string, unknown> = {};
  for (let i = 0; i + 1 < converted.length; i += 2) object[String(converted[i])] = converted[i + 1];
  return object;
}

/** Byte strings as UTF-8 text, or as Buffers with `bytes`. */
function out(reply: Reply, mode: Mode): unknown {
  if (Array.isArray(reply)) return reply.map((r) => out(r, mode));
  if (typeof reply !== 'string') return reply;
  return mode === 'bytes' ? Buffer.from(reply, 'latin1') : Buffer.from(reply, 'latin1').toString('utf8');
}

interface Blocked {
  readonly client: MemoryClient;
  readonly from: string;
  readonly to: string;
  readonly sides: readonly ['LEFT' | 'RIGHT', 'LEFT' | 'RIGHT'];
  readonly settle: (value: string | null, err?: Error) => void;
}

/** One store: a keyspace, its clock, its connections and their blocked moves. */
export class MemoryStore {
  readonly name: string;
  readonly keyspace = new Keyspace();
  readonly #clients = new Set<MemoryClient>();
  #blocked: Blocked[] = [];
  #nextId = 1;
  /** Listeners called after every write (drain waits on them). */
  readonly changes = new EventEmitter<{ change: [] }>();

  constructor(name: string) {
    this.name = name;
    this.changes.setMaxListeners(0);
    this.keyspace.onWrite = () => {
      this.#serveBlocked();
      this.changes.emit('change');
    };
  }

  connect(): MemoryClient {
    const client = new MemoryClient(this, this.#nextId++);
    this.#clients.add(client);
    return client.proxy;
  }

  /** @internal */
  dropped(client: MemoryClient): void {
    this.#clients.delete(client);
    for (const b of this.#blocked.filter((x) => x.client === client)) b.settle(null, new Error('Connection is closed.'));
  }

  /** Runs one command (or a script, for EVALSHA / EVAL) at once; the reply in keyspace form. */
  run(name: string, args: readonly Arg[]): Reply {
    const lower = name.toLowerCase();
    if (lower === 'evalsha' || lower === 'eval') {
      const digest = lower === 'eval' ? sha1(String(args[0])) : String(args[0]);
      const script = byDigest.get(digest);
      if (script === undefined) throw new NotSupportedByMemoryStoreError('a script that is not one of lua/*.lua');
      const run = MEMORY_SCRIPTS[script] ?? FLOW_SCRIPTS[script];
      if (!run) throw new NotSupportedByMemoryStoreError(`the script ${script}.lua`);
      const n = Number(args[1]);
      const rest = args.slice(2).map(bytes);
      return this.#write(() => run(this.keyspace, rest.slice(0, n), rest.slice(n)));
    }
    const command = COMMANDS[lower];
    if (!command) throw new NotSupportedByMemoryStoreError(`the Redis command ${name.toUpperCase()}`);
    return this.#write(() => command(this.keyspace, args.map(bytes)));
  }

  #write(fn: () => Reply): Reply {
    try {
      return fn();
    } finally {
      this.keyspace.onWrite();
    }
  }

  /** BLMOVE: moves at once when it can, else waits for a push, `timeoutMs` or CLIENT UNBLOCK. */
  blmove(client: MemoryClient, args: readonly Arg[]): Promise<string | null> {
    const [from, to, fromSide, toSide] = args.slice(0, 4).map(bytes) as [string, string, string, string];
    const sides = [fromSide.toUpperCase(), toSide.toUpperCase()] as ['LEFT' | 'RIGHT', 'LEFT' | 'RIGHT'];
    let now: string | null;
    try {
      now = this.keyspace.lmove(from, to, ...sides);
    } catch (err) {
      return Promise.reject(err);
    }
    if (now !== null) {
      this.keyspace.onWrite();
      return Promise.resolve(now);
    }
    const timeoutMs = Number(args[4]) * 1000;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const blocked: Blocked = {
        client,
        from,
        to,
        sides,
        settle: (value, err) => {
          clearTimeout(timer);
          this.#blocked = this.#blocked.filter((b) => b !== blocked);
          if (err) reject(err);
          else resolve(value);
        },
      };
      this.#blocked.push(blocked);
      if (timeoutMs > 0) {
        // Referenced, as a blocked connection's socket is: the process waits for the reply.
        timer = setTimeout(() => blocked.settle(null), timeoutMs);
      }
    });
  }

  /** CLIENT UNBLOCK: 1 if that client was blocked (its move answers null), else 0. */
  unblock(id: number): number {
    const b = this.#blocked.find((x) => x.client.id === id);
    if (!b) return 0;
    b.settle(null);
    return 1;
  }

  #serveBlocked(): void {
    for (const b of [...this.#blocked]) {
      if (this.keyspace.llen(b.from) === 0) continue;
      try {
        b.settle(this.keyspace.lmove(b.from, b.to, ...b.sides));
      } catch (err) {
        b.settle(null, err as Error);
      }
    }
  }

  /** Tells every connection that the clock moved. */
  clockMoved(): void {
    for (const c of this.#clients) c.emit(CLOCK_MOVED);
  }
}

/** Names that are never Redis commands: asked of a client by JavaScript itself or by tools. */
const NOT_COMMANDS = new Set(['then', 'catch', 'finally', 'toJSON', 'inspect', 'constructor', 'options', 'nodes']);

/** Queues commands and runs them in order on `exec()`, with ioredis' `[error, reply][]` result. */
function batch(store: MemoryStore, client: MemoryClient): unknown {
  const queued: [string, Arg[], Mode][] = [];
  const target = {
    exec: () =>
      client.reply(() => {
        if (queued.some(([name]) => name === 'wait')) throw new NotSupportedByMemoryStoreError('waitForReplicas (the Redis command WAIT)');
        return queued.map(([name, args, mode]) => {
          try {
            return [null, reply(name, store.run(name, args), mode)];
          } catch (err) {
            return [err, undefined];
          }
        });
      }, 'raw'),
  };
  const proxy: unknown = new Proxy(target, {
    get(t, prop) {
      if (prop === 'exec') return t.exec;
      if (typeof prop !== 'string' || NOT_COMMANDS.has(prop)) return undefined;
      const mode: Mode = prop.endsWith('Buffer') ? 'bytes' : 'text';
      const name = mode === 'bytes' ? prop.slice(0, -'Buffer'.length) : prop;
      return (...args: Arg[]) => {
        queued.push([name, args, mode]);
        return proxy;
      };
    },
  });
  return proxy;
}

/** One connection to a memory store, shaped like the part of an ioredis client the library uses. */
export class MemoryClient extends EventEmitter {
  readonly id: number;
  readonly #store: MemoryStore;
  status: 'ready' | 'end' = 'ready';
  /** What `send` and `reset` look at on an ioredis client: always writable, never half-open. */
  readonly stream = { writable: true, destroyed: false, destroy: () => undefined };
  /** The client as the library sees it: unknown commands reject with NotSupportedByMemoryStoreError. */
  readonly proxy: MemoryClient;

  constructor(store: MemoryStore, id: number) {
    super();
    this.#store = store;
    this.id = id;
    this.proxy = new Proxy(this, {
      get(target, prop) {
        if (typeof prop !== 'string' || prop in target || NOT_COMMANDS.has(prop) || prop.startsWith('_')) {
          const value: unknown = Reflect.get(target, prop, target);
          // Methods run on the client itself (its private fields), not on this proxy.
          return typeof value === 'function' ? value.bind(target) : value;
        }
        const mode: Mode = prop.endsWith('Buffer') ? 'bytes' : 'text';
        const name = mode === 'bytes' ? prop.slice(0, -'Buffer'.length) : prop;
        return (...args: Arg[]) => target.command(name, args, mode);
      },
    });
  }

  /** Settles on a later turn of the event loop, as a reply from a socket would. */
  reply<T>(run: () => T, _raw?: 'raw'): Promise<T> {
    if (this.status === 'end') return Promise.reject(new Error('Connection is closed.'));
    let result: { ok: true; value: T } | { ok: false; err: unknown };
    try {
      result = { ok: true, value: run() };
    } catch (err) {
      result = { ok: false, err };
    }
    return new Promise((resolve, reject) =>
      setImmediate(() =>
        result.ok ? resolve(result.value) : reject(result.err instanceof Error ? result.err : new Error(String(result.err))),
      ),
    );
  }

  command(name: string, args: readonly Arg[], mode: Mode): Promise<unknown> {
    const lower = name.toLowerCase();
    if (lower === 'blmove') {
      if (this.status === 'end') return Promise.reject(new Error('Connection is closed.'));
      return this.#store.blmove(this, args).then((v) => (v === null ? null : out(v, mode)));
    }
    if (lower === 'client') return this.reply(() => this.#client(args));
    if (lower === 'wait') return Promise.reject(new NotSupportedByMemoryStoreError('waitForReplicas (the Redis command WAIT)'));
    return this.reply(() => reply(name, this.#store.run(name, args), mode));
  }

  #client(args: readonly Arg[]): unknown {
    const sub = String(args[0]).toUpperCase();
    if (sub === 'ID') return this.id;
    if (sub === 'UNBLOCK') return this.#store.unblock(Number(args[1]));
    if (sub === 'SETNAME') return 'OK';
    throw new NotSupportedByMemoryStoreError(`the Redis command CLIENT ${sub}`);
  }

  call(name: string, ...args: Arg[]): Promise<unknown> {
    return this.command(name, args, 'text');
  }

  callBuffer(name: string, ...args: Arg[]): Promise<unknown> {
    return this.command(name, args, 'bytes');
  }

  pipeline(): unknown {
    return batch(this.#store, this);
  }

  multi(): unknown {
    return batch(this.#store, this);
  }

  duplicate(): MemoryClient {
    return this.#store.connect();
  }

  #end(): void {
    if (this.status === 'end') return;
    this.status = 'end';
    this.#store.dropped(this);
    this.emit('close');
    this.emit('end');
  }

  quit(): Promise<'OK'> {
    this.#end();
    return Promise.resolve('OK');
  }

  disconnect(): void {
    this.#end();
  }
}
