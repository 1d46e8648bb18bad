// The registry of open connections of one HTTP server, whatever their transport: WebSocket
// connections (bound through attach()) and Server-Sent Events streams (plain requests) both
// register here, so `attach()`'s `size`, iteration, `broadcast()` and `close()` see all of them.
// It lives in core/ so that neither transport imports the other: attach() creates the registry
// of its server, and each transport registers its connections with the registry of the server
// their request arrived on.

import type { IncomingMessage } from "node:http";
import type { Socket } from "./socket";

/** Who keeps a set of live connections: told once, synchronously, when one of them closes. */
export interface ConnectionTracker {
  untrack(connection: TrackedConnection): void;
}

/** What the registry needs of a bound connection (`res.locals.socket` itself). */
export interface TrackedConnection extends Socket<unknown, unknown> {
  /** Flushes what is queued, then closes with `code`; terminates after `timeoutMs`. */
  close(code: number, reason?: string, timeoutMs?: number): Promise<void>;
  /** Ends the connection at once. */
  terminate(error?: Error): void;
  /**
   * Registers the one tracker to call when the connection closes: a field, not a subscription
   * to a promise (no closure, no promises per connection). False if it is already closed.
   */
  trackBy(tracker: ConnectionTracker): boolean;
}

/**
 * The open connections of one server, in the order they opened. A connection leaves it
 * synchronously when it closes. Bounded by the open connections themselves: it forgets each one
 * as it closes.
 */
export class ConnectionRegistry implements ConnectionTracker {
  /** True once the server is shutting down: transports refuse new connections (503). */
  closed = false;
  private readonly connections = new Set<TrackedConnection>();

  get size(): number {
    return this.connections.size;
  }

  values(): IterableIterator<TrackedConnection> {
    return this.connections.values();
  }

  track(connection: TrackedConnection): void {
    if (connection.trackBy(this)) this.connections.add(connection);
  }

  untrack(connection: TrackedConnection): void {
    this.connections.delete(connection);
  }
}

/** One registry per server; a server that is collected takes its registry with it. */
const registries = new WeakMap<object, ConnectionRegistry>();

/** The registry of `server`, created on first use (by attach()). */
export function registryFor(server: object): ConnectionRegistry {
  let registry = registries.get(server);
  if (registry === undefined) registries.set(server, (registry = new ConnectionRegistry()));
  return registry;
}

/** The registry of the server a request arrived on, if attach() created one for it. */
export function registryOf(req: IncomingMessage): ConnectionRegistry | undefined {
  const server = (req.socket as { server?: object } | null)?.server;
  return server === undefined ? undefined : registries.get(server);
}
