export interface SentinelGroupOptions {
  /** Default 'mymaster'. */
  readonly masterName?: string;
  /** How many sentinels; the quorum is a majority (2 of 3). Default 3. */
  readonly sentinels?: number;
  /** `sentinel down-after-milliseconds`. Default 1000. */
  readonly downAfterMs?: number;
  /** `sentinel failover-timeout`. Default 3000. */
  readonly failoverTimeoutMs?: number;
  /** Deadline for each wait while starting, ms. Default 60000. */
  readonly timeoutMs?: number;
}

export interface GroupServer {
  readonly port: number;
  readonly url: string;
  readonly pid: number | undefined;
  /** kill -9. */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

export interface SentinelGroup {
  readonly masterName: string;
  readonly sentinels: readonly { readonly host: string; readonly port: number }[];
  /** The sentinels' processes, in the order of `sentinels`. */
  readonly sentinelProcesses: readonly GroupServer[];
  /** The server that was the primary at the start. */
  readonly primary: GroupServer;
  /** The server that was its replica at the start. */
  readonly replica: GroupServer;
  /** The primary's port as the first sentinel that answers (SENTINEL get-master-addr-by-name) names it. */
  currentPrimaryPort(): Promise<number>;
  /** 'redis+sentinel://127.0.0.1:<s1>,127.0.0.1:<s2>,127.0.0.1:<s3>/<masterName>'. */
  readonly url: string;
  /** Stops the sentinels, then the servers, and removes every folder (also after crashes). */
  stop(): Promise<void>;
}

export function startSentinelGroup(options?: SentinelGroupOptions): Promise<SentinelGroup>;
