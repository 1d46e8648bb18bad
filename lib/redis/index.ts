// express-sockets/redis: one Hub across processes on Redis (the `./redis` entry of the package,
// never loaded by the main one). It implements the hub's adapter seam with a node-redis client
// the user passes in. It may import channels/, core/ and hub/.

export { redisAdapter, RedisAdapter } from "./adapter";
export type { RedisAdapterOptions } from "./adapter";
export type { RedisClientLike, RedisListener } from "./client";
