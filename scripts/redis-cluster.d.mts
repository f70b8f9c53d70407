export const SLOTS: 16384;
/** CRC16 (XMODEM: polynomial 0x1021, initial value 0) of the bytes. */
export function crc16(bytes: Uint8Array): number;
/** The cluster slot of a key (strings as UTF-8), honouring a non-empty {hash tag}. */
export function keySlot(key: string | Buffer): number;

export interface ClusterNode {
  /** The node's position in `nodes` (creation order). */
  readonly index: number;
  readonly port: number;
  readonly url: string;
  /** The cluster node id (kept across restart(): nodes.conf survives). */
  readonly id: string;
  /** False after crash() or stop(), until restart(). */
  readonly alive: boolean;
  readonly pid: number | undefined;
  /** kill -9. */
  crash(): Promise<void>;
  stop(): Promise<void>;
  /** Starts a crashed or stopped node again on the same ports with the same nodes.conf; resolves once it answers PING. */
  restart(): Promise<void>;
}

export interface StartClusterOptions {
  /** At least 3. Default 3. */
  readonly masters?: number;
  /** Default 0. */
  readonly replicasPerMaster?: number;
  /** Deadline for each wait (start, agreement, moveSlot), ms. Default 60000. */
  readonly timeoutMs?: number;
}

export interface MoveSlotOptions {
  /** Keys per GETKEYSINSLOT / MIGRATE round. Default 100. */
  readonly batch?: number;
  /** MIGRATE's timeout, ms. Default 10000. */
  readonly migrateTimeoutMs?: number;
}

export interface RedisClusterHandle {
  /** Every node, masters and replicas, in creation order. */
  readonly nodes: readonly ClusterNode[];
  /** 'redis://127.0.0.1:<port>' for every node. */
  readonly seeds: readonly string[];
  /** 'redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,...' naming every node. */
  readonly url: string;
  /** Stops every node and removes every folder (also after crashes). */
  stop(): Promise<void>;
  /** The port of the master owning `slot`, as the first running node sees it. */
  slotOwner(slot: number): Promise<number>;
  /** Moves one slot with its keys, live, to the master on `toPort`; resolves (with the number of keys moved) once every running node agrees. */
  moveSlot(slot: number, toPort: number, options?: MoveSlotOptions): Promise<number>;
  /**
   * Resolves once every running node says cluster_state:ok and all agree on nodes, roles and slots, with running
   * nodes healthy and crashed ones flagged failed by everyone (after a crash: once the failover is done).
   */
  waitForAgreement(options?: { readonly timeoutMs?: number }): Promise<void>;
}

export function startCluster(options?: StartClusterOptions): Promise<RedisClusterHandle>;
