/**
 * Every error this package throws on purpose is a `DelayedError` with a stable `code`,
 * so callers can branch on `err.code` instead of parsing messages.
 */
export class DelayedError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option has a value of the wrong type or range. Thrown by constructors, before anything connects. */
export class InvalidOptionError extends DelayedError {
  constructor(message: string) {
    super('ERR_INVALID_OPTION', message);
  }
}

/** A task's arguments cannot be carried faithfully by JSON. Nothing was written to Redis. */
export class SerializationError extends DelayedError {
  /** Where in the arguments the problem is, e.g. `args[1].when`. */
  readonly path: string;
  constructor(path: string, problem: string) {
    super('ERR_SERIALIZATION', `Cannot enqueue: ${path} ${problem}`);
    this.path = path;
  }
}

/** The encoded task is larger than `maxPayloadBytes`. Nothing was written to Redis. */
export class PayloadTooLargeError extends DelayedError {
  readonly bytes: number;
  readonly limit: number;
  constructor(bytes: number, limit: number) {
    super(
      'ERR_PAYLOAD_TOO_LARGE',
      `Cannot enqueue: the task is ${bytes} bytes encoded, over the limit of ${limit} bytes (maxPayloadBytes)`,
    );
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** The task waited for (`queue.result`) failed for good; `reason` says why (a `FailureReason`, or `result-not-kept`). */
export class TaskFailedError extends DelayedError {
  readonly taskId: string;
  readonly reason: string;
  constructor(taskId: string, reason: string, message: string) {
    super(reason === 'cancelled' ? 'ERR_TASK_CANCELLED' : 'ERR_TASK_FAILED', `Task ${taskId} failed (${reason}): ${message}`);
    this.taskId = taskId;
    this.reason = reason;
  }
}

/** The task waited for (`queue.result`) was cancelled (`queue.cancel`). */
export class CancelledError extends TaskFailedError {}

/** No result arrived within `timeoutMs` (`queue.result`): the task may still be waiting or running, or keeps no result. */
export class ResultTimeoutError extends DelayedError {
  readonly taskId: string;
  constructor(taskId: string, timeoutMs: number) {
    super('ERR_RESULT_TIMEOUT', `No result for task ${taskId} within ${timeoutMs} ms (still waiting or running, or it keeps no result)`);
    this.taskId = taskId;
  }
}

/** A task definition is wrong: a bad name, or two tasks with one name in the modules a worker loads. */
export class TaskDefinitionError extends DelayedError {
  constructor(message: string) {
    super('ERR_TASK_DEFINITION', message);
  }
}

/** A task module given to a worker failed to load, or defines no task. */
export class ModuleLoadError extends DelayedError {
  readonly module: string;
  /** What went wrong, without the module's name. */
  readonly detail: string;
  constructor(module: string, detail: string, options?: ErrorOptions) {
    super('ERR_MODULE_LOAD', `Task module ${module}: ${detail}`, options);
    this.module = module;
    this.detail = detail;
  }
}

/**
 * The error a task threw, carried across the process boundary from a child.
 * `name`, `message` and `stack` are the original's; `cause` is not carried.
 */
export class TaskError extends DelayedError {
  constructor(name: string, message: string, stack?: string) {
    super('ERR_TASK_THREW', message);
    this.name = name;
    if (stack !== undefined) this.stack = stack;
  }
}

/**
 * Throw it from a task to fail it for good at once: it is never retried, whatever `retries` says.
 * @example
 * if (!account) throw new FatalError(`account ${id} does not exist`);
 */
export class FatalError extends DelayedError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_FATAL', message, options);
  }
}

/** A worker or sweeper was used after `close()`, or started twice. */
export class StateError extends DelayedError {
  constructor(message: string) {
    super('ERR_STATE', message);
  }
}

/**
 * The task was written to the primary, but fewer replicas than `waitForReplicas` confirmed it in time: a
 * failover now could lose it. `taskIds` names what was written; enqueueing it again may run it twice.
 */
export class NotReplicatedError extends DelayedError {
  readonly taskIds: readonly string[];
  readonly replicas: number;
  constructor(taskIds: readonly string[], replicas: number, wanted: number, timeoutMs: number) {
    super(
      'ERR_NOT_REPLICATED',
      `Written to the primary, but ${replicas} of ${wanted} replicas confirmed it within ${timeoutMs} ms (waitForReplicas): a failover could lose it`,
    );
    this.taskIds = taskIds;
    this.replicas = replicas;
  }
}

/**
 * Redis could not be reached within about a second (reconnect attempts included), or a server that accepted the
 * connection did not finish its handshake within the command timeout: the command was NOT sent and
 * will not be sent later, so sending it again is safe (no duplicate). `cause` is the last connection error.
 */
export class RedisUnavailableError extends DelayedError {
  /** Where Redis was expected, without any password. */
  readonly address: string;
  constructor(address: string, waitedMs: number, status: string, cause: Error | undefined) {
    const why = cause
      ? `: ${cause.message}`
      : status === 'connect'
        ? ' (connected, but the server did not finish its handshake)'
        : ` (connection ${status})`;
    super(
      'ERR_REDIS_UNAVAILABLE',
      `Redis at ${address} was not reachable${waitedMs > 0 ? ` within ${waitedMs} ms` : ''}${why}; the command was not sent and will not be sent later (safe to retry)`,
      cause ? { cause } : undefined,
    );
    this.address = address;
  }
}

/** The connection dropped after the command was sent and before its reply: it may or may not have run. */
export class ConnectionLostError extends DelayedError {
  constructor(
    message = 'The connection to Redis dropped before the reply came; the command may or may not have run',
    code = 'ERR_CONNECTION_LOST',
  ) {
    super(code, message);
  }
}

/**
 * The command was sent and no reply came within the command timeout: it may or may not have run (Redis may be
 * frozen, or the connection half-open). The connection was reset. A `ConnectionLostError`, with its own code.
 */
export class CommandTimeoutError extends ConnectionLostError {
  readonly timeoutMs: number;
  constructor(address: string, timeoutMs: number) {
    super(
      `Redis at ${address} sent no reply within ${timeoutMs} ms (commandTimeoutMs): the command was sent and may or may not have run; the connection was reset`,
      'ERR_COMMAND_TIMEOUT',
    );
    this.timeoutMs = timeoutMs;
  }
}

/**
 * This process's queue configuration (`partitions`, priority levels) differs from the one Redis records for the
 * queue (written by the first worker, or the first producer of a non-default configuration). Nothing was
 * written: a producer or worker with another configuration would strand tasks where no worker reads.
 */
export class ConfigMismatchError extends DelayedError {
  /** The configuration Redis records, e.g. `partitions=3`. */
  readonly recorded: string;
  /** This process's configuration. */
  readonly mine: string;
  constructor(queue: string, key: string, recorded: string, mine: string) {
    super(
      'ERR_CONFIG_MISMATCH',
      `Expected queue ${queue} to be configured as Redis records it (${recorded}, key ${key}), got ${mine} in this process: give every producer and worker the same options (to change them, see README "Queue configuration")`,
    );
    this.recorded = recorded;
    this.mine = mine;
  }
}

/**
 * The memory store (`redis: 'memory://'`, from `delayed-queue/testing`) was asked for something it does not do:
 * a Redis command or a script it has no implementation of, or a Redis feature it does not model (replicas).
 * Nothing was written. Test that path against a real Redis.
 */
export class NotSupportedByMemoryStoreError extends DelayedError {
  /** What was asked: `the Redis command WAIT`, `the script cancel.lua`. */
  readonly operation: string;
  constructor(operation: string) {
    super(
      'ERR_NOT_SUPPORTED_BY_MEMORY_STORE',
      `Not supported by the memory store: ${operation}. Nothing was written; test this against a real Redis (see README "Testing your tasks without Redis")`,
    );
    this.operation = operation;
  }
}
