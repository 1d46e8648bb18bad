// The few calls the Redis adapter makes on the user's client, as a structural interface that a
// node-redis (`redis` v4, v5) client satisfies: raw commands go through `sendCommand`, so the
// adapter does not depend on one major version's typed command methods, and pub/sub through
// the client's own subscribe/unsubscribe (it needs a connection of its own: `duplicate()`).

/** A pub/sub message listener: the message text and the channel it came on. */
export type RedisListener = (message: string, channel: string) => void;

/**
 * What the adapter needs of a Redis client: a node-redis client (`createClient()` from `redis`)
 * fits as it is. The adapter connects it if it is not open yet (and then closes it on close()).
 */
export interface RedisClientLike {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  /** A new client with the same options (and `overrides`), not yet connected. */
  duplicate(overrides?: { name?: string }): RedisClientLike;
  /** One command as its words; resolves to Redis's reply. */
  sendCommand(args: string[]): Promise<unknown>;
  subscribe(channels: string | string[], listener: RedisListener): Promise<unknown>;
  unsubscribe(channels?: string | string[], listener?: RedisListener): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  /** node-redis v5: closes at once. */
  destroy?(): unknown;
  /** node-redis v4: closes at once. */
  disconnect?(): unknown;
}

/** Closes a client at once, whatever its version calls it; never throws. */
export function closeClient(client: RedisClientLike): void {
  try {
    if (!client.isOpen) return;
    if (typeof client.destroy === "function") client.destroy();
    else if (typeof client.disconnect === "function")
      void Promise.resolve(client.disconnect()).catch(() => {});
  } catch {
    // already closed
  }
}
