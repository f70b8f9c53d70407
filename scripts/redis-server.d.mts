export interface RedisServer {
  readonly url: string;
  readonly port: number;
  crash(): Promise<void>;
  stop(): Promise<void>;
}
export function hasRedisServer(): boolean;
export function startRedis(extraArgs?: readonly string[], port?: number): Promise<RedisServer>;
