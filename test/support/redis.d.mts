export const REDIS_BINS: readonly string[];
export interface RedisServer { port: number; url: string; dir: string; stop(): Promise<void> }
export function startRedis(): Promise<RedisServer>;
